"""Bytes before allocation: a model's weights from its parameter count (built on meta, with the head it will
really have: free), refused when they exceed the parameter limit or the set share of this machine's free memory;
a forward pass's activations (and Grad-CAM's gradients) from the analysis engine's counts, one pass at a time
(``ForwardSlot``); a training run's peak."""

from __future__ import annotations

import functools
import math
import os
import threading
from collections.abc import Sequence
from typing import Any

import zoo
from visualizer.analysis import analyze_model, meta_model
from visualizer.budgets.limits import BudgetError, current
from visualizer.datasets import SHAPES_TEST_SIZE, SHAPES_TRAIN_SIZE
from visualizer.numbers import bytes_text

BYTES_PER_PARAM = 4  # float32


def available_memory() -> int | None:
    """Free memory now (``MemAvailable``; on other systems the physical memory), or None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


@functools.lru_cache(maxsize=256)
def model_params(name: str, num_classes: int | None = None) -> int:
    """Parameters of a zoo model (or custom VGG string), counted on the meta device: nothing is allocated.

    ``num_classes``: as built with that head (a checkpoint's, a training run's), not the model's own.
    """
    return sum(p.numel() for p in meta_model(name, num_classes).parameters())


def check_model(name: str, num_classes: int | None = None) -> int:
    """Refuse a model too large to build here, counted as it will be built (``num_classes``: its head); return
    its weights' bytes. ``BudgetError`` says why."""
    spec = zoo.get_spec(name)  # unknown names and bad configs say what exists
    params = model_params(spec.name, num_classes)
    limits = current()
    size = params * BYTES_PER_PARAM
    head = f" with a {num_classes:,}-class head" if num_classes is not None else ""
    if params > limits.max_params:
        own = model_params(spec.name) if num_classes is not None else None
        hint = (
            f"fewer classes would fit (with its own head it has {own / 1e6:,.1f} M)"
            if own is not None and own <= limits.max_params
            else "pick a smaller model, or narrower layers in a custom VGG (e.g. vgg:64,M,128,M,256)"
        )
        raise BudgetError(
            f"{spec.name}{head} has {params / 1e6:,.1f} M parameters ({bytes_text(size)} of weights), above this "
            f"server's limit of {limits.max_params / 1e6:,.0f} M (--max-params); {hint}"
        )
    free = available_memory()
    if free is not None and size > limits.max_model_share * free:
        raise BudgetError(
            f"{spec.name}{head} needs {bytes_text(size)} for its weights but this server has {bytes_text(free)} free "
            f"and lets one model take at most {limits.max_model_share:.0%} of it (--max-model-share); pick a "
            "smaller model, or try again when other work has finished"
        )
    return size


def forward_memory(model: str, input_shape: Sequence[int], cam_layer: str | None = None) -> dict[str, int]:
    """Bytes one image's forward pass may hold, from the analysis engine's counts (no allocation).

    ``activations``: every layer's output at this input size (what a pass that keeps its feature maps holds at
    the end, and what autograd keeps for a backward pass); ``gradients``: with Grad-CAM, the gradient of every
    layer's output from ``cam_layer`` to the head (the backward pass stops there).
    """
    a = analyze_model(model, tuple(input_shape))
    gradients = 0
    if cam_layer is not None:
        # the layer's own record, or the first record inside it (a block: "layer4", "features.8")
        inside = cam_layer + "."
        start = next((r.index for r in a.layers if r.key == cam_layer or r.name.startswith(inside)), 0)
        gradients = sum(r.activation_bytes for r in a.layers[start:])
    return {"activations": a.total_activation_bytes, "gradients": gradients}


class ForwardSlot:
    """This process's one forward-pass slot, then ``model_lock`` (hooks are on a model others may share): a
    context held around every image's forward pass (feature maps, a clicked layer, a unit, an ERF).

    ``check_forward`` bounds what one pass holds (``--max-forward-memory``); one pass at a time makes that the
    process's bound, whichever tab or queue asked, and on a laptop's cores two passes only slow each other. What
    a pass already holds is read without it, so requests answered from a kept pass run side by side."""

    _slot = threading.RLock()

    def __init__(self, model_lock: Any = None) -> None:
        self.model_lock = model_lock

    def __enter__(self) -> ForwardSlot:
        self._slot.acquire()
        if self.model_lock is not None:
            try:
                self.model_lock.__enter__()
            except BaseException:
                self._slot.release()
                raise
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            if self.model_lock is not None:
                self.model_lock.__exit__(*exc)
        finally:
            self._slot.release()


def check_forward(model: str, input_shape: Sequence[int], cam_layer: str | None = None) -> int:
    """Refuse a forward pass (and Grad-CAM) whose activations would exceed ``--max-forward-memory``, saying what
    would fit; returns the estimate in bytes."""
    parts = forward_memory(model, input_shape, cam_layer)
    total = parts["activations"] + parts["gradients"]
    limit = current().max_forward_memory
    if total <= limit:
        return total
    c, h, w = input_shape
    # Activations grow with the pixels: the side at which this model would fit, about.
    side = math.floor(min(h, w) * math.sqrt(limit / total))
    cam = f" and {bytes_text(parts['gradients'])} of Grad-CAM gradients" if parts["gradients"] else ""
    if parts["gradients"] and parts["activations"] <= limit:
        fits = "its feature maps without Grad-CAM fit"
    elif side >= 32:
        fits = f"pick a smaller model (this one would fit at about {c}x{side}x{side})"
    else:
        fits = "pick a smaller model"
    raise BudgetError(
        f"one image through {model} at {c}x{h}x{w} would hold about {bytes_text(parts['activations'])} of "
        f"activations{cam}, above this server's limit of {bytes_text(limit)} for one forward pass "
        f"(--max-forward-memory); {fits}, or ask whoever runs the server to raise the limit"
    )


# A run apart (``run_process``) starts its own interpreter and imports torch: 389 MB of private anonymous memory
# (torch 2.14 on Linux, ``/proc/<pid>/smaps_rollup``'s Pss_Anon; tests/test_budgets.py measures it again), while the
# libraries' file pages are shared with the server's.
RUN_PROCESS_BYTES = 400 * 2**20
OPTIMIZER_STATES = {"adam": 2, "sgd": 1}  # tensors per parameter besides the weight and its gradient
EVAL_BATCH = 500  # training.evaluate's batch


def training_memory(
    model: str,
    dataset: str,
    batch_size: int,
    subset: int | None,
    test_subset: int | None,
    optimizer: str = "adam",
    image_shape: tuple[int, int, int] = (3, 32, 32),
) -> dict[str, int]:
    """Bytes a training run will hold at its peak, by part, from the analysis engine's counts (no allocation).

    ``data``: the uint8 images and labels in memory (CIFAR-10 is read whole before a subset is taken);
    ``batch``: a training step's activations kept for backward plus their gradients (2 × the sum of every
    layer's output per image × batch); ``eval``: the largest layer output of a 500-image evaluation batch,
    ×3 (input, output and a working copy); ``model``: weights, gradients and optimizer state.
    """
    pixels = 1
    for d in image_shape:
        pixels *= d
    full_train, full_test = (50_000, 10_000) if dataset == "cifar10" else (SHAPES_TRAIN_SIZE, SHAPES_TEST_SIZE)
    n_train = full_train if dataset == "cifar10" else (subset or full_train)
    n_test = full_test if dataset == "cifar10" else (test_subset or full_test)
    a = analyze_model(model, image_shape)
    per_image = a.total_activation_bytes
    widest = max((r.activation_bytes for r in a.layers), default=0)
    return {
        "data": (n_train + n_test) * (pixels + 8),
        "batch": 2 * per_image * batch_size + 3 * batch_size * pixels * 4,
        "eval": 3 * widest * min(EVAL_BATCH, n_test),
        "model": a.total_params * BYTES_PER_PARAM * (2 + OPTIMIZER_STATES.get(optimizer, 2)),
        "per_image": 2 * per_image + 3 * pixels * 4,
    }


def check_training(
    model: str,
    dataset: str,
    batch_size: int,
    subset: int | None,
    test_subset: int | None,
    optimizer: str = "adam",
    own_process: bool = False,
) -> int:
    """Refuse a run whose estimated peak exceeds ``--max-train-memory``, saying which knob to turn; returns
    the estimate in bytes. ``own_process``: the run trains apart (``run_process``), its interpreter counted too."""
    parts = training_memory(model, dataset, batch_size, subset, test_subset, optimizer)
    process = RUN_PROCESS_BYTES if own_process else 0
    total = parts["data"] + parts["batch"] + parts["eval"] + parts["model"] + process
    limit = current().max_train_memory
    if total <= limit:
        return total
    room = limit - parts["data"] - parts["eval"] - parts["model"] - process
    fits = room // parts["per_image"] if room > 0 else 0
    if process >= limit:
        hint = f"a run's own process alone takes about {bytes_text(process)}: raise --max-train-memory"
    elif fits >= 1:
        hint = f"lower the batch size to at most {fits:,}"
        if parts["data"] > parts["batch"]:
            hint += " or use fewer training images"
    elif parts["model"] > limit // 2:
        hint = "pick a smaller model"
    else:
        hint = "use fewer training images (a subset) and a smaller batch"
    raise BudgetError(
        f"this run would need about {bytes_text(total)} of memory (data {bytes_text(parts['data'])}, a batch of "
        f"{batch_size:,}: {bytes_text(parts['batch'])}, evaluation {bytes_text(parts['eval'])}, weights and "
        f"{optimizer} state {bytes_text(parts['model'])}"
        + (f", the run's own process {bytes_text(process)}" if process else "")
        + "), above this server's training budget of "
        f"{bytes_text(limit)} (--max-train-memory); {hint}"
    )
