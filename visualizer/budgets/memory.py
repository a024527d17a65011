"""Bytes before allocation: a model's weights from its parameter count (built on meta: free), refused when
they exceed the parameter limit or the set share of this machine's free memory."""

from __future__ import annotations

import functools
import os

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
def model_params(name: str) -> int:
    """Parameters of a zoo model (or custom VGG string), counted on the meta device: nothing is allocated."""
    return sum(p.numel() for p in meta_model(name).parameters())


def check_model(name: str) -> int:
    """Refuse a model too large to build here; return its weights' bytes. ``BudgetError`` says why."""
    spec = zoo.get_spec(name)  # unknown names and bad configs say what exists
    params = model_params(spec.name)
    limits = current()
    size = params * BYTES_PER_PARAM
    if params > limits.max_params:
        raise BudgetError(
            f"{spec.name} has {params / 1e6:,.1f} M parameters ({bytes_text(size)} of weights), above this "
            f"server's limit of {limits.max_params / 1e6:,.0f} M (--max-params); pick a smaller model, or "
            "narrower layers in a custom VGG (e.g. vgg:64,M,128,M,256)"
        )
    free = available_memory()
    if free is not None and size > limits.max_model_share * free:
        raise BudgetError(
            f"{spec.name} needs {bytes_text(size)} for its weights but this server has {bytes_text(free)} free "
            f"and lets one model take at most {limits.max_model_share:.0%} of it (--max-model-share); pick a "
            "smaller model, or try again when other work has finished"
        )
    return size


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
    model: str, dataset: str, batch_size: int, subset: int | None, test_subset: int | None, optimizer: str = "adam"
) -> int:
    """Refuse a run whose estimated peak exceeds ``--max-train-memory``, saying which knob to turn; returns
    the estimate in bytes."""
    parts = training_memory(model, dataset, batch_size, subset, test_subset, optimizer)
    total = parts["data"] + parts["batch"] + parts["eval"] + parts["model"]
    limit = current().max_train_memory
    if total <= limit:
        return total
    room = limit - parts["data"] - parts["eval"] - parts["model"]
    fits = room // parts["per_image"] if room > 0 else 0
    if fits >= 1:
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
        f"{optimizer} state {bytes_text(parts['model'])}), above this server's training budget of "
        f"{bytes_text(limit)} (--max-train-memory); {hint}"
    )
