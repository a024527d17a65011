"""The numbers: one ``Limits`` per process, set from ``app.py``'s flags; defaults fit a 2-core 8 GB laptop."""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass

GiB = 2**30


class BudgetError(ValueError):
    """A request that would not fit; the message names its size, the limit, and the knob to turn."""


@dataclass(frozen=True)
class Limits:
    max_params: int = 200_000_000  # largest model built (VGG-19: 144 M; a 4096-wide custom VGG: far more)
    max_model_share: float = 0.5  # one model's weights may take at most this share of the free memory
    model_cache_bytes: int = 2 * GiB  # loaded models kept for reuse, by their total bytes
    max_train_memory: int = 3 * GiB  # data + activations and gradients of a batch + weights and optimizer
    keep_runs: int = 5  # newest runs whose checkpoints are kept; older ones are deleted
    max_checkpoint_upload: int = 1 * GiB  # a .pt file uploaded for the Feature-maps tab
    max_queue: int = 8  # training runs waiting their turn (the one training is not counted)
    # One image's forward pass (every layer's output, and Grad-CAM's gradients): the zoo at its design sizes
    # needs at most ~0.5 GiB (ResNet-152 with Grad-CAM); tv:efficientnet_b7 at 600 px needs 3.2 GiB.
    max_forward_memory: int = 1 * GiB
    # Forward passes kept (every view and every student looking at the same image with the same weights reads
    # one): a class's few example photos through the zoo's models at their design sizes (VGG-16 at 224 keeps
    # 110 MiB: every layer's output, so any click costs no forward).
    pass_cache_bytes: int = 1 * GiB

    def validate(self) -> Limits:
        checks = [
            (isinstance(self.max_params, int) and self.max_params >= 1_000, "max_params must be at least 1000"),
            (0 < self.max_model_share <= 1, "max_model_share must be in (0, 1]"),
            (self.model_cache_bytes >= 0, "model_cache_bytes must be ≥ 0"),
            (self.max_train_memory >= 64 * 2**20, "max_train_memory must be at least 64 MiB"),
            (isinstance(self.keep_runs, int) and self.keep_runs >= 1, "keep_runs must be at least 1"),
            (self.max_checkpoint_upload >= 2**20, "max_checkpoint_upload must be at least 1 MiB"),
            (isinstance(self.max_queue, int) and self.max_queue >= 1, "max_queue must be at least 1"),
            (self.max_forward_memory >= 16 * 2**20, "max_forward_memory must be at least 16 MiB"),
            (self.pass_cache_bytes >= 0, "pass_cache_bytes must be ≥ 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"{message} (got {self})")
        return self


_current = Limits()
_lock = threading.Lock()


def current() -> Limits:
    return _current


def configure(**changes) -> Limits:
    """Replace some limits for this process (``app.py`` does it once from its flags); returns the new ones."""
    global _current
    with _lock:
        _current = dataclasses.replace(_current, **changes).validate()
        return _current
