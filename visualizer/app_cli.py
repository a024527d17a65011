"""``cnnviz app`` and ``python app.py``: serve the visualizer (flags checked before anything heavy is imported)."""

from __future__ import annotations

import argparse
import re

from visualizer import budgets
from visualizer.budgets.allocator import limit_arenas
from visualizer.budgets.logins import LoginGuard

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


_AMOUNT = re.compile(r"^(\d+(?:\.\d+)?(?:e\d+)?)\s*([kmgt]?)(i?b)?$")


def _amount(text: str, flag: str, what: str) -> float:
    """``"3GB"`` → 3e9, ``"2GiB"`` → 2·2³⁰, ``"200M"`` → 2e8 (bytes only take the b / ib endings)."""
    m = _AMOUNT.match(text.strip().lower().replace("_", ""))
    if m and (what == "bytes" or not m.group(3)):
        number, prefix, ending = m.groups()
        power = "kmgt".index(prefix) + 1 if prefix else 0
        value = float(number) * ((1024 if ending == "ib" else 1000) ** power)
        if value > 0:
            return value
    example = "3GB, 512MB or 2GiB" if what == "bytes" else "200M or 5000000"
    raise argparse.ArgumentTypeError(f"{flag} must be a positive amount of {what}, e.g. {example}; got {text!r}")


def byte_size(flag: str):
    return lambda text: int(_amount(text, flag, "bytes"))


def count(flag: str):
    return lambda text: int(_amount(text, flag, "parameters"))


def positive_int(flag: str):
    def parse(text: str) -> int:
        if not text.isdigit() or int(text) < 1:
            raise argparse.ArgumentTypeError(f"{flag} must be a whole number ≥ 1, got {text!r}")
        return int(text)

    return parse


def share(text: str) -> float:
    try:
        value = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
    except ValueError:
        value = -1
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(
            f"--max-model-share must be in (0, 1] or a percentage, e.g. 0.5 or 50%; got {text!r}"
        )
    return value


def add_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1: this machine only; "
        "use 0.0.0.0 for a classroom LAN, ideally with --auth)",
    )
    p.add_argument("--port", type=port, default=7860, help="port (default 7860)")
    p.add_argument("--share", action="store_true", help="create a public gradio.live link (off by default)")
    p.add_argument(
        "--auth",
        type=credentials,
        metavar="USER:PASSWORD",
        help="require this login, e.g. for a classroom LAN (after 3 wrong passwords a user name is "
        "locked out for 2 s, doubling with each further failure)",
    )
    budgets = p.add_argument_group("budgets (what one request may spend; defaults fit a 2-core 8 GB laptop)")
    budgets.add_argument(
        "--max-params",
        type=count("--max-params"),
        default=200_000_000,
        metavar="N",
        help="largest model anyone may build, in parameters (default 200M)",
    )
    budgets.add_argument(
        "--max-model-share",
        type=share,
        default=0.5,
        metavar="FRACTION",
        help="a model's weights may take at most this share of the free memory (default 0.5)",
    )
    budgets.add_argument(
        "--model-cache",
        type=byte_size("--model-cache"),
        default=2 * 2**30,
        metavar="BYTES",
        help="loaded models kept for reuse, by their total size (default 2GiB)",
    )
    budgets.add_argument(
        "--max-train-memory",
        type=byte_size("--max-train-memory"),
        default=3 * 2**30,
        metavar="BYTES",
        help="a training run's data, activations, weights and optimizer state together (default 3GiB)",
    )
    budgets.add_argument(
        "--keep-runs",
        type=positive_int("--keep-runs"),
        default=5,
        metavar="N",
        help="newest training runs whose checkpoints are kept; older ones are deleted (default 5)",
    )
    budgets.add_argument(
        "--max-checkpoint-upload",
        type=byte_size("--max-checkpoint-upload"),
        default=2**30,
        metavar="BYTES",
        help="largest .pt file accepted as an upload (default 1GiB)",
    )


def parse_args(argv: list[str] | None = None, prog: str | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=prog, description=DESCRIPTION)
    add_flags(p)
    return p.parse_args(argv)


def serve(args: argparse.Namespace) -> int:
    limit_arenas()  # before torch and the server start their threads

    budgets.configure(
        max_params=args.max_params,
        max_model_share=args.max_model_share,
        model_cache_bytes=args.model_cache,
        max_train_memory=args.max_train_memory,
        keep_runs=args.keep_runs,
        max_checkpoint_upload=args.max_checkpoint_upload,
    )
    # Imported here, after the flags are checked: a mistyped flag is answered at once (measured: 0.2 s, against 13 s
    # of CPU time to import torch and Gradio), and glibc's arenas are capped before torch starts its threads.
    from visualizer.ui.app import launch

    launch(host=args.host, port=args.port, share=args.share, auth=LoginGuard(*args.auth) if args.auth else None)
    return 0


def main(argv: list[str] | None = None) -> int:
    return serve(parse_args(argv))


def add_commands(sub) -> None:
    """Register ``app`` on argparse subparsers (called by ``visualizer.cli``)."""
    p = sub.add_parser("app", help="serve the web app (default http://127.0.0.1:7860)", description=DESCRIPTION)
    add_flags(p)
    p.set_defaults(func=serve)
