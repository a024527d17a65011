"""The registry of the latest trained weights: what is published is what is read, from any thread."""

from __future__ import annotations

import threading

import torch

from visualizer.latest_weights import REGISTRY, LatestWeights, WeightsRegistry


def _weights(step: int, run_id: str = "run-a") -> LatestWeights:
    return LatestWeights(run_id, "vgg:8,M", ["a", "b"], "shapes", {"w": torch.full((2,), float(step))}, 0, step, False)


def test_what_is_published_is_what_is_read_until_a_new_run_clears_it():
    registry = WeightsRegistry()
    assert registry.latest() is None and registry.latest_checkpoint() is None  # before any run
    first, second = _weights(1), _weights(2)
    registry.publish(first)
    registry.publish_checkpoint("/runs/a/last.pt")
    assert registry.latest() is first and registry.latest_checkpoint() == "/runs/a/last.pt"
    registry.publish(second)  # the newer replaces the older
    assert registry.latest() is second and registry.latest().key == ("run-a", 2, False)
    registry.clear()
    assert registry.latest() is None and registry.latest_checkpoint() is None
    assert isinstance(REGISTRY, WeightsRegistry) and REGISTRY is not registry


def test_readers_see_only_whole_publications_while_the_trainer_publishes():
    registry = WeightsRegistry()
    published = [_weights(step) for step in range(2000)]
    seen: list[LatestWeights | None] = []

    def read() -> None:
        for _ in range(2000):
            seen.append(registry.latest())

    reader = threading.Thread(target=read)
    reader.start()
    for weights in published:
        registry.publish(weights)
    reader.join()
    ids = {id(w) for w in published}
    steps = [w.step for w in seen if w is not None]
    assert all(w is None or id(w) in ids for w in seen)  # nothing half-made, nothing of its own
    assert steps == sorted(steps)  # never back in time
    assert registry.latest() is published[-1]
