"""Networks of your own, checked and put in the zoo: from a file for the person running the server
(``--model path/to/file.py:ClassOrFactory``), or an ``nn.Module`` from Python (``visualizer.show``).

Loading code is for the person at the server's keyboard: the page never accepts code or pickled modules from a
browser, and weights are read with ``torch.load(weights_only=True)``.

Every way a model can fail to fit the visualizer becomes one ``UserModelError`` line saying what would work: a
missing file, a syntax error, no such class, a class that needs arguments, a ``forward`` that takes two tensors
(the analysis engine's own check), one that returns a tuple or a dict, shapes that depend on the data (the
engine follows shapes on the meta device, without data), weights that do not fit (the keys named), a head that
does not fit the class names or a training set. The model is checked on a meta copy: its weights are never
touched.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import json
import pickle
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

import zoo
from visualizer.analysis import AnalysisError, analyze, check_takes_one_tensor, parse_input_shape
from visualizer.budgets import BudgetError
from visualizer.budgets.memory import check_model
from visualizer.checkpoint import FORMAT, CheckpointError, load_model_state, validate_checkpoint
from visualizer.datasets import SHAPES_CLASSES
from zoo.user import UserModelError, accepts_argument, check_name, meta_copy, real_copy, user_model

REF_EXAMPLE = "path/to/file.py:ClassOrFactory"
DEFAULT_SIZES = ((3, 32, 32), (3, 224, 224))  # tried in turn when no input size is given
TRAIN_SIDE = 32  # CIFAR-10 and shapes images
DATASET_CLASSES = {"cifar10": zoo.CIFAR10_CLASSES, "shapes": SHAPES_CLASSES}
# A pass on the meta device has shapes but no values: these are what torch says when forward reads values.
_NEEDS_DATA = (
    "cannot be called on meta tensors",
    "data-independent implementation does not exist",
    "Cannot copy out of meta tensor",
    "meta device type tensor",
    "on meta tensors",
)
_STATE_KEYS = ("state_dict", "model_state_dict", "model")  # where tutorials' checkpoint dicts keep the weights


@dataclass(frozen=True)
class ModelRequest:
    """One ``--model`` and the options after it (``--model-args``, ``--weights``, ``--name``, ``--input-size``)."""

    ref: str
    args: str | dict | None = None
    weights: str | None = None
    name: str | None = None
    input_size: str | None = None


# ---------------------------------------------------------------------------------------------- source files


def parse_ref(text: str) -> tuple[Path, str | None]:
    """``"models/net.py:Net"`` → ``(Path("models/net.py"), "Net")``; the name may be left out (``models/net.py``)."""
    text = (text or "").strip()
    path, sep, attr = text.rpartition(":") if ".py:" in text else (text, "", "")
    if not path.endswith(".py"):
        raise UserModelError(
            f"--model {text!r} is not a Python file and a class; write {REF_EXAMPLE}, e.g. "
            "docs/examples/notes_vgg19.py:VGG19 (weights go in --weights file.pt)"
        )
    if sep and not attr.isidentifier():
        raise UserModelError(f"--model {text!r}: {attr!r} is not a Python name; write {REF_EXAMPLE}")
    return Path(path), attr or None


def load_source(path: Path) -> Any:
    """Run a model file as a module of its own (its folder importable while it runs, as with ``python file.py``)."""
    if not path.is_file():
        where = "is a folder" if path.is_dir() else "does not exist"
        raise UserModelError(f"model file {path} {where}; give a .py file that defines the network, e.g. {REF_EXAMPLE}")
    resolved = path.resolve()
    module_name = f"cnnviz_user_{resolved.stem}_{hashlib.sha1(str(resolved).encode()).hexdigest()[:8]}"
    if module_name in sys.modules:  # two --model from one file: one module, one set of classes
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, resolved)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look classes up here
    sys.path.insert(0, str(resolved.parent))
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        sys.modules.pop(module_name, None)
        raise UserModelError(
            f"{path} line {exc.lineno}: {exc.msg} ({(exc.text or '').strip()[:60]!r}); fix the file and start again"
        ) from None
    except ImportError as exc:
        sys.modules.pop(module_name, None)
        missing = f"{exc.name}, which is not installed here" if exc.name else str(exc).splitlines()[0]
        raise UserModelError(
            f"{path}{_user_line(exc, resolved, 'line')} imports {missing}; install it, or drop it"
        ) from None
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - a model file can raise anything while it runs
        sys.modules.pop(module_name, None)
        raise UserModelError(f"running {path} failed{_user_line(exc, resolved)}: {_first_line(exc)}") from None
    finally:
        sys.path.remove(str(resolved.parent))
    return module


def _defined_here(module: Any) -> tuple[list[str], list[str]]:
    """The nn.Module classes and the functions ``module`` itself defines (not those it imports)."""
    own = [(n, v) for n, v in vars(module).items() if getattr(v, "__module__", None) == module.__name__]
    classes = [n for n, v in own if isinstance(v, type) and issubclass(v, nn.Module)]
    functions = [n for n, v in own if inspect.isfunction(v) and not n.startswith("_")]
    return classes, functions


def find_factory(module: Any, attr: str | None, path: Path) -> tuple[Callable[..., nn.Module] | nn.Module, str]:
    """The class or function named ``attr`` in ``module`` (or an nn.Module the file built, ``model = Net()``);
    without a name, the file's only nn.Module class."""
    classes, functions = _defined_here(module)
    defines = "; it defines " + (
        ", ".join(classes + [f"{f}()" for f in functions]) if classes or functions else "no nn.Module class"
    )
    if attr is None:
        if len(classes) == 1:
            return getattr(module, classes[0]), classes[0]
        example = f"{path}:{classes[-1] if classes else 'Net'}"
        raise UserModelError(f"say which network of {path} to load, e.g. {example}{defines}")
    found = getattr(module, attr, None)
    if found is None:
        raise UserModelError(f"{path} has no {attr}{defines}")
    if isinstance(found, nn.Module):  # a module-level instance: the file built it already
        return found, attr
    if not callable(found):
        raise UserModelError(f"{path}:{attr} is a {type(found).__name__}, not a class or function{defines}")
    return found, attr


def parse_model_args(text: str | dict | None) -> dict[str, Any]:
    """``--model-args '{"num_classes": 10}'`` → a dict."""
    if text is None or text == "":
        return {}
    if isinstance(text, dict):
        return dict(text)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserModelError(
            f"--model-args {text!r} is not JSON ({exc.msg} at character {exc.pos}); write e.g. "
            "'{\"num_classes\": 10}' (double quotes around names)"
        ) from None
    if not isinstance(value, dict):
        raise UserModelError(
            f"--model-args must be a JSON object of keyword arguments, e.g. '{{\"num_classes\": 10}}'; got {text!r}"
        )
    return value


def check_args(factory: Callable[..., Any], args: dict[str, Any], label: str, how: str = "--model-args") -> None:
    """The arguments a class or function needs, and those it does not take, named before it is called."""
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return  # builtins: calling it will say
    kinds = {p.kind for p in params.values()}
    required = [
        n
        for n, p in params.items()
        if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and n not in args
    ]
    if required:
        example = ", ".join(f'"{n}": …' for n in required)
        raise UserModelError(
            f"{label} needs the argument(s) {', '.join(required)}; pass them with {how} '{{{example}}}'"
        )
    unknown = [k for k in args if k not in params]
    if unknown and inspect.Parameter.VAR_KEYWORD not in kinds:
        takes = ", ".join(n for n, p in params.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)) or "none"
        raise UserModelError(f"{label} takes no argument(s) {', '.join(unknown)}; it takes: {takes}")


def build(factory: Callable[..., nn.Module], args: dict[str, Any], label: str, on_meta: bool = False) -> nn.Module:
    """``factory(**args)``, checked to be an nn.Module; on the meta device when asked (no weights allocated)."""
    try:
        if on_meta:
            with torch.device("meta"):
                model = factory(**args)
        else:
            model = factory(**args)
    except Exception as exc:
        raise UserModelError(
            f"building {label}({_args_text(args)}) failed{_user_line(exc)}: {_first_line(exc)}"
        ) from exc
    if not isinstance(model, nn.Module):
        raise UserModelError(
            f"{label}({_args_text(args)}) returned {model!r:.40} ({type(model).__name__}), not an nn.Module"
        )
    return model


def _args_text(args: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in args.items())


# ---------------------------------------------------------------------------------------------- the forward


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:200]}" if text else type(exc).__name__


def _user_line(exc: BaseException, source: Path | None = None, style: str = "at") -> str:
    """`` at file.py:12 (`code`)`` (style "line": `` line 12``): the last frame of the traceback in the user's code
    (not torch's, not ours)."""
    skip = (str(Path(torch.__file__).parent), str(Path(__file__).parent), str(Path(zoo.__file__).parent))
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if not f.filename.startswith(skip) and not f.filename.startswith("<frozen")
    ]
    if source is not None:
        frames = [f for f in frames if Path(f.filename) == source] or frames
    if not frames:
        return ""
    f = frames[-1]
    if style == "line":
        return f" line {f.lineno}"
    code = f" (`{f.line.strip()[:60]}`)" if f.line else ""
    return f" at {Path(f.filename).name}:{f.lineno}{code}"


def _probe(model: nn.Module, shape: tuple[int, int, int]) -> Any:
    """One forward of a meta copy at ``shape`` (batch 1): shapes only, the model's own tensors untouched."""
    copy = meta_copy(model).eval()  # BatchNorm in training mode refuses a batch of 1
    dtype = next((p.dtype for p in copy.parameters() if p.is_floating_point()), torch.get_default_dtype())
    with torch.no_grad():
        return copy(torch.empty(1, *shape, device="meta", dtype=dtype))


def _output_problem(out: Any, name: str) -> str | None:
    if isinstance(out, torch.Tensor):
        if out.ndim == 2:
            return None
        return (
            f"{name} returns a {'×'.join(map(str, out.shape))} tensor, not class scores of shape (1, classes); end "
            "forward with global pooling, flatten and a Linear layer (e.g. torch.flatten(x, 1) then nn.Linear)"
        )
    if isinstance(out, dict):
        keys = ", ".join(repr(k) for k in list(out)[:4])
        first = next(iter(out), "logits")
        return (
            f"{name} returns a dict ({keys}); the visualizer reads one tensor of class scores — wrap it so forward "
            f"returns only that tensor, e.g. return self.net(x)[{first!r}]"
        )
    if isinstance(out, (tuple, list)):
        kinds = ", ".join(type(v).__name__ for v in out[:4])
        return (
            f"{name} returns a {type(out).__name__} of {len(out)} ({kinds}); the visualizer reads one tensor of class "
            "scores — wrap it so forward returns only the logits, e.g. return self.net(x)[0]"
        )
    return f"{name} returns a {type(out).__name__}; forward must return one tensor of class scores (1, classes)"


def check_forward(
    model: nn.Module, name: str, input_size: Sequence[int] | None = None, *, size_flag: str = "--input-size"
) -> tuple[tuple[int, int, int], int]:
    """Whether the visualizer can follow ``model``: ``(input size, classes its head outputs)``, else one
    ``UserModelError`` line. Without ``input_size``, 3×32×32 then 3×224×224 are tried."""
    try:
        check_takes_one_tensor(model, name)
    except AnalysisError as exc:
        raise UserModelError(str(exc)) from None
    try:
        sizes = [tuple(parse_input_shape(input_size))] if input_size is not None else list(DEFAULT_SIZES)
    except AnalysisError as exc:
        raise UserModelError(f"{size_flag} {input_size!r}: {exc}") from None
    failures = []
    for shape in sizes:
        try:
            out = _probe(model, shape)
        except Exception as exc:  # noqa: BLE001 - a forward can raise anything; each becomes a sentence
            if any(s in str(exc) for s in _NEEDS_DATA):  # no input size would help
                raise UserModelError(_reads_values(exc, name)) from None
            failures.append(_pass_problem(exc, model, name, shape))
            continue
        problem = _output_problem(out, name)
        if problem:
            raise UserModelError(problem)
        return shape, int(out.shape[1])
    tried = " and ".join("x".join(map(str, s)) for s in sizes)
    hint = "" if input_size is not None else f" (tried {tried}; give its input size with {size_flag} CxHxW)"
    raise UserModelError(failures[0] + hint)


def _reads_values(exc: Exception, name: str) -> str:
    return (
        f"{name}'s forward reads the values of a tensor{_user_line(exc)} ({_first_line(exc)[:80]}); the visualizer "
        "follows shapes without data, so shapes and branches must depend only on the input's size — compute them "
        "from x.shape, or move that step out of forward"
    )


def _pass_problem(exc: Exception, model: nn.Module, name: str, shape: tuple[int, int, int]) -> str:
    try:  # the analysis engine explains shape errors best (too small, wrong channels, head size)
        analyze(model, shape, model_name=name)
    except AnalysisError as explained:
        return str(explained)
    except Exception:  # noqa: BLE001 - the engine could not explain it either: the first failure's line below
        pass
    return f"{name} failed at input {'x'.join(map(str, shape))}{_user_line(exc)}: {_first_line(exc)}"


def _min_size(model: nn.Module, shape: tuple[int, int, int]) -> tuple[int, int] | None:
    """None when the 32×32 images of the training sets fit, else the design size (the one size known to work)."""
    if shape[1:] == (TRAIN_SIDE, TRAIN_SIDE):
        return None
    try:
        out = _probe(model, (shape[0], TRAIN_SIDE, TRAIN_SIDE))
        return None if isinstance(out, torch.Tensor) and out.ndim == 2 else shape[1:]
    except Exception:  # noqa: BLE001 - any failure at 32×32 means: not for the training sets
        return shape[1:]


# ---------------------------------------------------------------------------------------------- weights


def read_weights(path: str | Path) -> tuple[dict[str, torch.Tensor], dict | None]:
    """``(state_dict, checkpoint or None)`` from a ``.pt`` file: a state_dict, a tutorial's checkpoint dict
    (``model_state_dict`` / ``state_dict``), or this project's checkpoint format; ``weights_only=True`` always."""
    path = Path(path)
    if not path.is_file():
        raise UserModelError(
            f"weights file {path} {'is a folder' if path.is_dir() else 'does not exist'}; give a .pt file saved with "
            "torch.save(model.state_dict(), 'file.pt'), or a checkpoint written by the trainer"
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise UserModelError(
            f"{path} holds pickled objects (a whole module?) that a weights-only load refuses, so no code runs from "
            "a weights file; save the weights alone: torch.save(model.state_dict(), 'file.pt')"
        ) from exc
    except Exception as exc:
        raise UserModelError(f"{path} is not a PyTorch weights file ({_first_line(exc)[:160]})") from exc
    ckpt = None
    if isinstance(obj, dict) and obj.get("format") == FORMAT:
        try:
            ckpt = validate_checkpoint(obj, path)
        except CheckpointError as exc:
            raise UserModelError(str(exc)) from None
        obj = ckpt["model"]
    elif isinstance(obj, dict):
        obj = next((obj[k] for k in _STATE_KEYS if isinstance(obj.get(k), dict)), obj)
    if not isinstance(obj, dict) or not obj or not all(torch.is_tensor(v) for v in obj.values()):
        what = type(obj).__name__ if not isinstance(obj, dict) else "a dict of " + ", ".join(map(str, list(obj)[:4]))
        raise UserModelError(
            f"{path} holds {what}, not a state_dict; save torch.save(model.state_dict(), 'file.pt') "
            "or use a checkpoint written by the trainer"
        )
    if all(k.startswith("module.") for k in obj):  # saved from nn.DataParallel / DistributedDataParallel
        obj = {k.removeprefix("module."): v for k, v in obj.items()}
    return obj, ckpt


def load_into(model: nn.Module, state: dict[str, torch.Tensor], path: str | Path, name: str, how: str) -> None:
    """Load ``state`` into ``model``; a mismatch names the keys, and a head of another size says how to fit it."""
    try:
        load_model_state(model, {"model": state, "model_name": name}, source=f"weights {path}")
    except CheckpointError as exc:
        hint = ""
        heads = {
            k: tuple(v.shape)
            for k, v in model.state_dict().items()
            if k in state and tuple(state[k].shape) != tuple(v.shape) and v.ndim >= 1
        }
        if heads:
            key = [k for k in heads if k.endswith("weight")][-1:] or list(heads)[-1:]
            key = key[0]
            wanted = state[key].shape[0]
            hint = f"; the weights' {key} has {wanted} outputs: build it with {wanted} classes ({how})"
        raise UserModelError(f"{exc}{hint}") from None


# ---------------------------------------------------------------------------------------------- registering


def register_request(request: ModelRequest) -> str:
    """Check and register one ``--model``; returns the name it is listed under."""
    path, attr = parse_ref(request.ref)
    module = load_source(path)
    factory, attr = find_factory(module, attr, path)
    args = parse_model_args(request.args)
    origin = {"file": str(path.resolve()), "factory": attr}
    if isinstance(factory, nn.Module):  # `model = Net()` in the file: that instance, with its weights
        if args:
            raise UserModelError(f"{path}:{attr} is a model the file built already; --model-args are for a class")
        return register_instance(
            factory, request.input_size, name=request.name or attr, weights=request.weights, origin=origin
        )
    state, ckpt = read_weights(request.weights) if request.weights else (None, None)
    if ckpt is not None and "num_classes" not in args and accepts_argument(factory, "num_classes"):
        args["num_classes"] = ckpt["num_classes"]  # the head it was trained with
    name = check_name(request.name if request.name is not None else attr)
    check_args(factory, args, attr)
    try:
        shape_model = build(factory, args, attr, on_meta=True)
    except UserModelError:  # a factory that computes with tensors while building: build it for real
        shape_model = build(factory, args, attr)
    shape, outputs = check_forward(shape_model, name, request.input_size)
    own = None
    if state is not None:
        own = build(factory, args, attr)
        load_into(own, state, request.weights, name, how="--model-args '{\"num_classes\": N}'")
    class_names = ckpt["class_names"] if ckpt is not None and len(ckpt["class_names"]) == outputs else None
    zoo.register_model(
        factory,
        name=name,
        input_size=shape,
        args=args,
        class_names=class_names,
        weights=own,
        num_outputs=outputs,
        min_size=_min_size(shape_model, shape),
        origin=origin,
        description=f"your own network: {path.name}:{attr}({_args_text(args)})"
        + (f", weights {Path(request.weights).name}" if request.weights else ", random init"),
    )
    forget(name)
    _check_budget(name)
    return name


def register_instance(
    model: nn.Module,
    input_size: str | Sequence[int] | None = "3x32x32",
    *,
    name: str | None = None,
    class_names: Sequence[str] | None = None,
    weights: str | Path | dict | None = None,
    replace: bool = False,
    origin: dict[str, Any] | None = None,
) -> str:
    """Check and register an ``nn.Module`` from Python; its current weights are its own (or ``weights``, a file or
    a state_dict loaded into a copy: the instance is never modified). ``input_size`` None: 3x32x32 or 3x224x224,
    whichever fits. ``origin``: how to build it again (default: its module and class). Returns its name."""
    if not isinstance(model, nn.Module):
        raise UserModelError(
            f"show() takes an nn.Module (or a dict of them), got {type(model).__name__}; build it first: show(Net())"
        )
    name = check_name(name if name is not None else type(model).__name__, replace=replace)
    shape, outputs = check_forward(model, name, input_size, size_flag="input_size=")
    own = model
    ckpt = None
    if weights is not None:
        state, ckpt = (dict(weights), None) if isinstance(weights, dict) else read_weights(weights)
        own = real_copy(model)
        load_into(own, state, weights if not isinstance(weights, dict) else "state_dict", name, how="a new last layer")
    if class_names is None and ckpt is not None and len(ckpt["class_names"]) == outputs:
        class_names = ckpt["class_names"]
    cls = type(model)
    origin = origin or {"module": cls.__module__, "class": cls.__qualname__}
    zoo.register_model(
        own,
        name=name,
        input_size=shape,
        class_names=class_names,
        num_outputs=outputs,
        min_size=_min_size(model, shape),
        origin=origin,
        replace=replace,
        description=f"your own network: {cls.__module__}.{cls.__qualname__}, "
        + ("its current weights" if weights is None else f"weights {Path(str(weights)).name}"),
    )
    forget(name)
    _check_budget(name)
    return name


def _check_budget(name: str) -> None:
    """The server's budgets (--max-params, --max-model-share) hold for your own models too."""
    try:
        check_model(name)
    except BudgetError as exc:
        zoo.unregister_model(name)
        forget(name)
        raise UserModelError(str(exc)) from None


def register_requests(requests: Sequence[ModelRequest]) -> list[str]:
    """Register every ``--model``; the first that fails raises (the others stay out of the zoo)."""
    names: list[str] = []
    try:
        for request in requests:
            names.append(register_request(request))
    except Exception:
        for name in names:
            zoo.unregister_model(name)
        raise
    return names


def forget(name: str) -> None:
    """Drop what the core cached under ``name`` when a name is (re)given to a network (``show()`` again after
    editing the class; a name refused by the budgets and used again). Cheap: the caches fill again on use.

    Those caches are keyed by the model's name (the analysis, its meta instance, parameter counts, diagrams,
    random-init weights, forward passes); only modules already imported can hold anything. Step 2 of issue 16
    replaces this list by caches keyed on the spec (see the report).
    """
    for module_name, attrs in _NAME_KEYED_CACHES:
        module = sys.modules.get(module_name)
        for attr in attrs if module is not None else ():
            cached = getattr(module, attr, None)
            if cached is not None:
                getattr(cached, "cache_clear", cached)()


_NAME_KEYED_CACHES = (
    ("visualizer.analysis.meta", ("clear_caches",)),
    ("visualizer.budgets.memory", ("model_params",)),
    ("visualizer.views.architecture", ("_diagram_html", "_layer_table", "_default_fold")),
    ("visualizer.weight_sources", ("clear_cache",)),
    ("visualizer.forward_pass", ("clear",)),
)


# ---------------------------------------------------------------------------------------------- training


def check_trainable(name: str, dataset: str) -> None:
    """A model of your own trains on ``dataset`` when its head outputs that many classes (or it takes a
    ``num_classes`` argument); else one line saying what the head should be. No-op for the zoo's models."""
    if not zoo.is_user_model(name) or dataset not in DATASET_CLASSES:
        return
    entry = user_model(name)
    wanted = len(DATASET_CLASSES[dataset])
    if entry.num_outputs != wanted and not entry.takes_num_classes:
        raise UserModelError(
            f"{name}'s last layer outputs {entry.num_outputs}, {dataset} has {wanted} classes; give {name} a "
            f"{wanted}-way last layer (e.g. nn.Linear(…, {wanted})) or a num_classes argument, and load it again"
        )


# ---------------------------------------------------------------------------------------------- command lines


def is_file_ref(text: str) -> bool:
    """Whether a model argument names a Python file (``net.py:Net``) rather than a zoo model."""
    return isinstance(text, str) and (text.strip().endswith(".py") or ".py:" in text)


def resolve_model_argument(text: str, args: str | None = None, input_size: str | None = None) -> str:
    """The zoo name for a command line's model argument: a zoo name as it is, a ``file.py:Net`` registered first."""
    if not is_file_ref(text):
        if args:
            raise UserModelError(f"--model-args is for a network from a file (file.py:Net), not the zoo's {text!r}")
        return text
    return register_request(ModelRequest(ref=text, args=args, input_size=input_size))


__all__ = [
    "DATASET_CLASSES",
    "ModelRequest",
    "UserModelError",
    "build",
    "check_args",
    "check_forward",
    "check_trainable",
    "find_factory",
    "forget",
    "is_file_ref",
    "load_into",
    "load_source",
    "parse_model_args",
    "parse_ref",
    "read_weights",
    "register_instance",
    "register_request",
    "register_requests",
    "resolve_model_argument",
]
