"""``cnnviz app`` and ``python app.py``: serve the visualizer (flags checked before anything heavy is imported)."""
from __future__ import annotations

import argparse

DESCRIPTION = "Interactive CNN architecture visualizer (VGG, AlexNet, ResNet, any torchvision classifier)."


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


def add_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only; "
                   "use 0.0.0.0 for a classroom LAN, ideally with --auth)")
    p.add_argument("--port", type=port, default=7860, help="port (default 7860)")
    p.add_argument("--share", action="store_true", help="create a public gradio.live link (off by default)")
    p.add_argument("--auth", type=credentials, metavar="USER:PASSWORD",
                   help="require this login, e.g. for a classroom LAN")


def parse_args(argv: list[str] | None = None, prog: str | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=prog, description=DESCRIPTION)
    add_flags(p)
    return p.parse_args(argv)


def serve(args: argparse.Namespace) -> int:
    from visualizer.ui.app import launch  # heavy imports (torch, gradio) only after the flags are valid

    launch(host=args.host, port=args.port, share=args.share, auth=args.auth)
    return 0


def main(argv: list[str] | None = None) -> int:
    return serve(parse_args(argv))


def add_commands(sub) -> None:
    """Register ``app`` on argparse subparsers (called by ``visualizer.cli``)."""
    p = sub.add_parser("app", help="serve the web app (default http://127.0.0.1:7860)", description=DESCRIPTION)
    add_flags(p)
    p.set_defaults(func=serve)
