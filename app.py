"""Entry point: ``python app.py`` serves the visualizer on http://127.0.0.1:7860 (the same as ``cnnviz app``)."""

from __future__ import annotations

import sys

from visualizer.app_cli import credentials, main, parse_args, port

__all__ = ["credentials", "main", "parse_args", "port"]

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
