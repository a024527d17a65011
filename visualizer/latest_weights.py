"""The latest trained weights: a small registry the trainer publishes to and weight loading reads from.

The training run publishes here (its ``SnapshotLog`` the weights of each snapshot, the loop each checkpoint it
writes); ``visualizer.weight_sources`` reads from here. Neither knows the other, nor the trainer's thread: this
module sits below both and imports nothing of the app.

``REGISTRY`` is the app's (the process-wide trainer publishes to it); a trainer built on its own gets its own.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class LatestWeights:
    """The running model's weights as of its latest snapshot; ``state_dict`` tensors are CPU copies shared by
    every reader: load them into a model (``load_state_dict`` copies), never change them in place."""

    run_id: str
    model_name: str
    class_names: list[str]
    dataset: str
    state_dict: dict[str, torch.Tensor]
    epochs_done: int
    step: int
    epoch_end: bool

    @property
    def key(self) -> tuple[str, int, bool]:
        """Identifies these weights (for caches of models and results built from them)."""
        return self.run_id, self.step, self.epoch_end


class WeightsRegistry:
    """Thread-safe: the latest weights and the latest checkpoint path of the run publishing here.

    Publishing and reading are a lock and an assignment: the training thread never waits on a reader.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._weights: LatestWeights | None = None
        self._checkpoint: str | None = None

    def publish(self, weights: LatestWeights) -> None:
        """The run's weights as of now (they replace the previous ones)."""
        with self._lock:
            self._weights = weights

    def publish_checkpoint(self, path: str) -> None:
        """A checkpoint the run has just written, complete on disk."""
        with self._lock:
            self._checkpoint = path

    def clear(self) -> None:
        """A new run begins: nothing of it is published yet (its predecessor's weights are not its own)."""
        with self._lock:
            self._weights, self._checkpoint = None, None

    def latest(self) -> LatestWeights | None:
        """The latest weights published, or None before the run's first snapshot."""
        with self._lock:
            return self._weights

    def latest_checkpoint(self) -> str | None:
        """The path of the latest checkpoint published, or None before the run has written one."""
        with self._lock:
            return self._checkpoint


REGISTRY = WeightsRegistry()  # the app's: ``background.get_trainer()``'s runs publish here


__all__ = ["REGISTRY", "LatestWeights", "WeightsRegistry"]
