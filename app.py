"""Entry point: ``python app.py`` serves the visualizer on http://127.0.0.1:7860."""
from __future__ import annotations

import argparse
import sys


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Interactive CNN architecture visualizer (VGG, AlexNet, ResNet).")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only; "
                   "use 0.0.0.0 for a classroom LAN, ideally with --auth)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--share", action="store_true", help="create a public gradio.live link (off by default)")
    p.add_argument("--auth", metavar="USER:PASSWORD", help="require this login, e.g. for a classroom LAN")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    from visualizer.ui.app import launch  # heavy imports (torch, gradio) only after the flags are valid

    launch(host=args.host, port=args.port, share=args.share, auth=args.auth)


if __name__ == "__main__":
    main(sys.argv[1:])
