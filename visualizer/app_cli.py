"""``cnnviz app`` and ``python app.py``: serve the visualizer (flags checked before anything heavy is imported)."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys

from visualizer import budgets
from visualizer.budgets import cpu, runs
from visualizer.budgets.allocator import limit_arenas
from visualizer.budgets.logins import LoginGuard
from visualizer.runs_store import default_store

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


def folder(text: str) -> str:
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(
            f"--weights-dir must be a folder of torchvision .pth files (e.g. vgg16-397923af.pth), got {text!r}"
        )
    return text


class _AddModel(argparse.Action):
    """``--model file.py:Net``: starts one entry of ``namespace.models``; the options after it fill that entry."""

    def __call__(self, parser, namespace, values, option_string=None):
        if ".py" not in values:
            parser.error(
                f"--model {values!r} must name a Python file and a class or function in it, e.g. "
                "--model docs/examples/notes_vgg19.py:VGG19 (zoo models need no flag: they are in every picker)"
            )
        setattr(namespace, self.dest, [*(getattr(namespace, self.dest, None) or []), {"ref": values}])


class _ModelOption(argparse.Action):
    """``--model-args``, ``--weights``, ``--name``, ``--input-size``: belong to the ``--model`` just before them."""

    def __call__(self, parser, namespace, values, option_string=None):
        models = getattr(namespace, "models", None) or []
        if not models:
            parser.error(
                f"{option_string} belongs to a --model: put it after one, e.g. --model net.py:Net {option_string} …"
            )
        if self.dest in models[-1]:
            parser.error(f"{option_string} given twice for --model {models[-1]['ref']}")
        if self.dest == "args":
            try:
                parsed = json.loads(values)
            except json.JSONDecodeError as exc:
                parser.error(f"--model-args {values!r} is not JSON ({exc.msg}); write e.g. '{{\"num_classes\": 10}}'")
            if not isinstance(parsed, dict):
                parser.error("--model-args must be a JSON object of keyword arguments, e.g. '{\"num_classes\": 10}'")
        models[-1][self.dest] = values


def add_model_flags(p: argparse.ArgumentParser) -> None:
    """``--model`` (repeatable) and the options of each: networks of your own, loaded before the page is built."""
    own = p.add_argument_group(
        "your own networks (code run by this server, never from the browser)",
        "each --model is followed by its own options; --model a.py:A --weights a.pt --model b.py:B",
    )
    own.add_argument(
        "--model",
        dest="models",
        action=_AddModel,
        default=[],
        metavar="FILE.py:NAME",
        help="a network of your own: a class (or a function returning an nn.Module) in a Python file; "
        "listed in every model picker under its name (repeatable)",
    )
    own.add_argument(
        "--model-args",
        dest="args",
        action=_ModelOption,
        default=argparse.SUPPRESS,
        metavar="JSON",
        help="keyword arguments for it, e.g. '{\"num_classes\": 10}'",
    )
    own.add_argument(
        "--weights",
        dest="weights",
        action=_ModelOption,
        default=argparse.SUPPRESS,
        metavar="FILE.pt",
        help="its weights: a state_dict (torch.save(model.state_dict(), …)) or a checkpoint of the trainer; "
        "loaded with weights_only=True",
    )
    own.add_argument(
        "--name", dest="name", action=_ModelOption, default=argparse.SUPPRESS, help="list it under this name"
    )
    own.add_argument(
        "--input-size",
        dest="input_size",
        action=_ModelOption,
        default=argparse.SUPPRESS,
        metavar="CxHxW",
        help="the input it was designed for (default: 3x32x32, else 3x224x224, whichever fits)",
    )


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
        "--max-forward-memory",
        type=byte_size("--max-forward-memory"),
        default=2**30,
        metavar="BYTES",
        help="one image's forward pass: every layer's output, and Grad-CAM's gradients, as the analysis counts "
        "them before it runs (default 1GiB: the zoo fits, tv:efficientnet_b7 at 600 px does not)",
    )
    budgets.add_argument(
        "--pass-cache",
        type=byte_size("--pass-cache"),
        default=2**30,
        metavar="BYTES",
        help="forward passes kept for reuse, by the bytes they hold (default 1GiB: when full, older passes first drop "
        "the layers no view asked for, VGG-16 at 224 from 110 MB to about 15, so a class's photos fit; every "
        "student showing one of them is served without a forward)",
    )
    budgets.add_argument(
        "--keep-runs",
        type=positive_int("--keep-runs"),
        default=5,
        metavar="N",
        help="newest training runs whose checkpoints are kept; older ones are deleted (default 5)",
    )
    budgets.add_argument(
        "--max-queue",
        type=positive_int("--max-queue"),
        default=8,
        metavar="N",
        help="training runs that may wait in the queue behind the one training (default 8)",
    )
    budgets.add_argument(
        "--runs-dir",
        default=None,
        metavar="DIR",
        help="where training runs are kept: their folders and checkpoints, uploads and the run store "
        "(DIR/runs.sqlite, every run's curves and results; default runs/, or $CNNVIZ_RUNS_DIR)",
    )
    budgets.add_argument(
        "--max-checkpoint-upload",
        type=byte_size("--max-checkpoint-upload"),
        default=2**30,
        metavar="BYTES",
        help="largest .pt file accepted as an upload, checkpoints and ImageNet weights alike (default 1GiB)",
    )
    p.add_argument(
        "--weights-dir",
        type=folder,
        metavar="DIR",
        help="a folder of torchvision ImageNet weights files under their own names (vgg16-397923af.pth …), "
        "checked and put in the torch cache at start: the imagenet weights then work offline",
    )
    add_model_flags(p)


def parse_args(argv: list[str] | None = None, prog: str | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=prog, description=DESCRIPTION, allow_abbrev=False)
    add_flags(p)
    return p.parse_args(argv)


# The server's event loop answers every request and file download in one thread; each time it waits for a socket it
# gives up the GIL, and a thread drawing pictures or training may then hold it for a whole switch interval (5 ms by
# default) before the loop gets it back — many times per answer under load. 1 ms keeps the loop's waits short.
SWITCH_INTERVAL = 0.001


def serve(args: argparse.Namespace) -> int:
    limit_arenas()  # before torch and the server start their threads
    sys.setswitchinterval(SWITCH_INTERVAL)
    cpu.start_launcher()  # training's threads above the server's answers (budgets.cpu), started before the server

    budgets.configure(
        max_params=args.max_params,
        max_model_share=args.max_model_share,
        model_cache_bytes=args.model_cache,
        max_train_memory=args.max_train_memory,
        max_forward_memory=args.max_forward_memory,
        pass_cache_bytes=args.pass_cache,
        keep_runs=args.keep_runs,
        max_checkpoint_upload=args.max_checkpoint_upload,
        max_queue=args.max_queue,
    )
    runs.use_runs_dir(args.runs_dir)
    store = default_store()  # opened now: runs a killed server left "running" are marked interrupted at start
    if store.interrupted:
        ids = ", ".join(map(str, store.interrupted))
        print(f"runs interrupted when the server last stopped: {ids} (kept, marked interrupted)", file=sys.stderr)
    names = register_models(args.models)
    if names is None:
        return 2
    if getattr(args, "weights_dir", None):
        import_weights_dir(args.weights_dir)
    # Imported here, after the flags are checked: a mistyped flag is answered at once (measured: 0.2 s, against 13 s
    # of CPU time to import torch and Gradio), and glibc's arenas are capped before torch starts its threads.
    from visualizer.ui.app import launch  # noqa: PLC0415

    launch(
        host=args.host,
        port=args.port,
        share=args.share,
        auth=LoginGuard(*args.auth) if args.auth else None,
        default_model=names[0] if names else None,  # every tab's model picker starts on the first of your own
    )
    return 0


def register_models(models: list[dict]) -> list[str] | None:
    """Put every ``--model`` in the zoo before the page is built; None (after one line on stderr) if one fails."""
    if not models:
        return []
    # torch and the loader only when there is something to load, after the flags are checked (see serve)
    from visualizer.user_models import ModelRequest, UserModelError, register_requests  # noqa: PLC0415

    try:
        names = register_requests([ModelRequest(**m) for m in models])
    except UserModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None
    except Exception as exc:  # noqa: BLE001 - the user's code can raise anything: one line, not a traceback
        text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        print(f"error: loading your network failed: {type(exc).__name__}: {text}", file=sys.stderr)
        return None
    print(f"your own networks, in every model picker: {', '.join(names)}", file=sys.stderr)
    return names


def import_weights_dir(folder: str) -> list[str]:
    """``--weights-dir``: every file checked and stored (``imagenet_files.import_folder``), one line each on stderr;
    a bad file is reported and skipped, the server starts anyway. Returns the files stored."""
    # torch only when there is a folder to read, after the flags are checked (see serve)
    from visualizer.imagenet_files import import_folder  # noqa: PLC0415

    stored, problems = import_folder(folder)
    for line in stored:
        print(f"ImageNet weights in the torch cache: {line}", file=sys.stderr)
    for line in problems:
        print(f"skipped: {line}", file=sys.stderr)
    if not stored and not problems:
        print(f"--weights-dir {folder}: no .pth or .pt files in it", file=sys.stderr)
    return stored


def main(argv: list[str] | None = None) -> int:
    return serve(parse_args(argv))


def add_commands(sub) -> None:
    """Register ``app`` on argparse subparsers (called by ``visualizer.cli``)."""
    p = sub.add_parser("app", help="serve the web app (default http://127.0.0.1:7860)", description=DESCRIPTION)
    add_flags(p)
    p.set_defaults(func=serve)
