"""Entry point: ``python app.py`` serves the visualizer on http://127.0.0.1:7860."""
from __future__ import annotations

import argparse
import sys


def port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"--port must be a number from 1 to 65535, got {text!r}")
    return int(text)


def credentials(text: str) -> tuple[str, str]:
    """``user:password`` → ``("user", "password")`` (the password may contain ':')."""
    user, sep, password = text.partition(":")
    if not sep or not user or not password:
        raise argparse.ArgumentTypeError(f"--auth must look like user:password, got {text!r}")
    return user, password


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Interactive CNN architecture visualizer (VGG, AlexNet, ResNet).")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only; "
                   "use 0.0.0.0 for a classroom LAN, ideally with --auth)")
    p.add_argument("--port", type=port, default=7860, help="port (default 7860)")
    p.add_argument("--share", action="store_true", help="create a public gradio.live link (off by default)")
    p.add_argument("--auth", type=credentials, metavar="USER:PASSWORD",
                   help="require this login, e.g. for a classroom LAN")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    from visualizer.ui.app import launch  # heavy imports (torch, gradio) only after the flags are valid

    launch(host=args.host, port=args.port, share=args.share, auth=args.auth)


if __name__ == "__main__":
    main(sys.argv[1:])
