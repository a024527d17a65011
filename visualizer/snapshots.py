"""What the network looks like while it learns: first-layer filters, a probe image's feature maps, its top classes.

Collect, then present. The trainer calls ``SnapshotLog.take`` in its own thread, between batches: it is the
only thread that touches the training model. A snapshot is a CPU copy of the weights, the first conv's kernels
and one forward pass of a fixed probe image (a test image of the run's dataset) with hooks on one layer per
stage. Readers (the Training tab, the Feature-maps tab, the API) get immutable records and never wait on
training; pictures are drawn on their side (``filters_image``, ``probe_maps_image``).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch import nn

from visualizer.features import (
    BACKGROUND,
    TEXT,
    FeatureCapture,
    enlarge,
    feature_grid,
    filters_picture,
    first_rgb_conv,
    rank_channels,
    spatial_layers,
    stage_layers,
)
from visualizer.latest_weights import LatestWeights, WeightsRegistry
from visualizer.predictions import top_k
from visualizer.units.pictures import korean_available, page_font

SNAPSHOT_EVERY_S = 3.0  # between epoch ends too: the picture moves while the class watches
MAX_COST_SHARE = 0.02  # a big model's snapshots come less often, so that they never take more of the time
MAPS_PER_STAGE = 6  # the probe's most active channels kept at each stage (small enough to keep every epoch)
HISTORY_LIMIT = 25  # snapshots kept for scrubbing back (the start and epoch ends); longer runs keep a spread


@dataclass(frozen=True)
class Probe:
    """The fixed image the network is shown at every snapshot: a test image of the run's dataset."""

    image: torch.Tensor  # uint8 3×H×W, CPU
    label: int
    class_name: str
    index: int  # position in the run's test split

    def pil(self) -> Image.Image:
        return Image.fromarray(self.image.permute(1, 2, 0).numpy())


@dataclass(frozen=True)
class StageMaps:
    """The probe's most active channels at one layer: ``maps[i]`` is channel ``channels[i]``, most active first."""

    key: str
    kind: str  # the layer's class name (ReLU, MaxPool2d, …)
    shape: tuple[int, int, int]  # the layer's whole output, C×H×W
    channels: tuple[int, ...]
    maps: np.ndarray  # len(channels)×H×W float32


@dataclass(frozen=True)
class NetworkSnapshot:
    """The network at one step of a run. Shared between readers: never changed once taken."""

    run_id: str
    model_name: str
    class_names: tuple[str, ...]
    epochs_done: int  # epochs completed when taken
    step: int
    epoch_end: bool  # taken right after the epoch's evaluation
    filters: torch.Tensor  # the first RGB conv's weights, O×3×kh×kw, CPU
    start_filters: torch.Tensor  # the same at the run's first snapshot (shared by all its snapshots)
    start_step: int
    stages: tuple[StageMaps, ...]
    logits: torch.Tensor  # the probe's, CPU
    probe: Probe

    @property
    def key(self) -> tuple[str, int, bool]:
        """Identifies the weights pictured (for caches, and to tell whether a page already shows them)."""
        return self.run_id, self.step, self.epoch_end

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        """The probe's ``k`` most probable classes, ``(name, probability)``."""
        return top_k(self.logits, list(self.class_names), k)


def _cpu_copy(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to("cpu", copy=True)


class SnapshotLog:
    """Thread-safe snapshots of one run: the trainer's thread takes them, any thread reads them.

    Taken at the start, every ``every_s`` seconds between batches (or less often, if one takes more than
    ``MAX_COST_SHARE`` of that), at each epoch end, on pause and on stop, and at the next batch after ``request()``.
    ``history()`` keeps the start and the epoch ends. A snapshot that fails ends the snapshots, never the training
    run: ``error`` says why. Each snapshot's weights are also published to ``publish_to`` (the app's registry, which
    weight loading reads), when given.

    A run in a process of its own (``run_process``) has two logs: its process's takes the snapshots and hands each
    one (and a failure) to ``relay``; the server's gets them with ``receive`` / ``receive_error`` and is the one
    readers see. ``asked`` (a multiprocessing ``Event``, shared by both) carries a reader's ``request`` across.
    """

    def __init__(
        self,
        every_s: float = SNAPSHOT_EVERY_S,
        dataset: str = "",
        publish_to: WeightsRegistry | None = None,
        run_id: str | None = None,
        relay: Callable[[tuple], None] | None = None,
        asked: Any = None,
    ) -> None:
        self.every_s = every_s
        self.dataset = dataset
        self.publish_to = publish_to
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self.relay, self.asked = relay, asked
        self.error: str | None = None
        self._changed = threading.Condition()
        self._latest: NetworkSnapshot | None = None
        self._weights: LatestWeights | None = None
        self._history: list[NetworkSnapshot] = []
        self._count = 0
        self._requested = False
        self._paused = False  # the latest snapshot was taken as the run paused: its weights hold until it resumes
        # Set by begin() in the trainer's thread.
        self._model_name, self._class_names, self._probe = "", (), None
        self._probe_input: torch.Tensor | None = None
        self._stages: list[tuple[str, str]] = []  # (layer key, kind), one per stage
        self._start: tuple[torch.Tensor, int] | None = None  # the first snapshot's filters and step
        self._last, self._interval = 0.0, every_s

    # ------------------------------------------------------------------------------------ trainer side

    def begin(
        self,
        model: nn.Module,
        model_name: str,
        class_names: list[str],
        probe: Probe,
        probe_input: torch.Tensor,
        epochs_done: int = 0,
        step: int = 0,
    ) -> None:
        """Fix the probe (``probe_input``: 1×3×H×W, normalized, on the model's device); take the first snapshot."""
        self._model_name, self._class_names, self._probe = model_name, tuple(class_names), probe
        self._probe_input = probe_input
        try:
            self._stages = [(s.key, s.kind) for s in stage_layers(spatial_layers(model_name))]
        except Exception as exc:  # noqa: BLE001 - as in take: the run goes on without pictures
            self._fail(exc)
        self.take(model, epochs_done, step)

    def due(self) -> bool:
        """Whether a snapshot is wanted now: asked for, or its interval since the last one."""
        asked = self.asked is not None and self.asked.is_set()
        return self.error is None and (self._requested or asked or time.perf_counter() - self._last >= self._interval)

    def take(
        self, model: nn.Module, epochs_done: int, step: int, epoch_end: bool = False, paused: bool = False
    ) -> NetworkSnapshot | None:
        """Snapshot ``model`` (call between batches, from the thread that trains it; ``paused``: before it waits).

        None when snapshots have failed (``error``): a picture must never end a training run."""
        if self.error is not None:
            return None
        t0 = time.perf_counter()
        try:
            snap = self._take(model, epochs_done, step, epoch_end, paused)
        except Exception as exc:  # noqa: BLE001 - reported through error, shown where the pictures would be
            self._fail(exc)
            return None
        self._interval = max(self.every_s, (time.perf_counter() - t0) / MAX_COST_SHARE)
        return snap

    def _fail(self, exc: Exception) -> None:
        self.receive_error(f"{type(exc).__name__}: {exc}")
        if self.relay is not None:
            self.relay(("snapshot_error", self.error))

    @torch.no_grad()
    def _take(self, model: nn.Module, epochs_done: int, step: int, epoch_end: bool, paused: bool) -> NetworkSnapshot:
        if self.asked is not None:
            self.asked.clear()  # this one answers the requests so far; one made while it is taken asks again
        was_training = model.training
        model.eval()  # no dropout, BatchNorm's running statistics: what the test accuracy sees
        try:
            with FeatureCapture(model, [key for key, _ in self._stages]) as capture:
                logits = model(self._probe_input)
        finally:
            model.train(was_training)
        stages = []
        for key, kind in self._stages:
            activation = capture.get(key)[0].float().cpu()
            order, _ = rank_channels(activation, "mean")
            keep = order[:MAPS_PER_STAGE]
            stages.append(
                StageMaps(
                    key, kind, tuple(activation.shape), tuple(int(c) for c in keep), activation.numpy()[keep].copy()
                )
            )
        state = {k: _cpu_copy(v) for k, v in model.state_dict().items()}
        filters = _cpu_copy(first_rgb_conv(model).weight).float()
        self._start = self._start or (filters, step)
        snap = NetworkSnapshot(
            run_id=self.run_id,
            model_name=self._model_name,
            class_names=self._class_names,
            epochs_done=epochs_done,
            step=step,
            epoch_end=epoch_end,
            filters=filters,
            start_filters=self._start[0],
            start_step=self._start[1],
            stages=tuple(stages),
            logits=_cpu_copy(logits[0]).float(),
            probe=self._probe,
        )
        weights = LatestWeights(
            self.run_id, self._model_name, list(self._class_names), self.dataset, state, epochs_done, step, epoch_end
        )
        self.receive(snap, weights, paused)
        if self.relay is not None:
            self.relay(("snapshot", snap, weights, paused))
        return snap

    def receive(self, snap: NetworkSnapshot, weights: LatestWeights, paused: bool = False) -> None:
        """Keep ``snap`` as the latest (and in the history if it is the start or an epoch's end), publish its
        weights: the end of ``take``, or a snapshot taken in the run's own process."""
        epoch_end = snap.epoch_end
        with self._changed:
            self._latest, self._weights = snap, weights
            if epoch_end or not self._history:  # the start, then one per epoch
                self._history = _thin([*self._history, snap])
            self._count += 1
            self._requested, self._paused = False, paused
            self._last = time.perf_counter()
            self._changed.notify_all()
        if self.publish_to is not None:
            self.publish_to.publish(weights)

    def receive_error(self, error: str) -> None:
        """Snapshots have failed (here, or in the run's own process): ``error`` says why; waiting readers wake."""
        with self._changed:
            self.error = self.error or error
            self._changed.notify_all()

    # ------------------------------------------------------------------------------------- reader side

    def request(self) -> int:
        """Ask for a snapshot at the next batch; returns a ticket for ``wait``."""
        with self._changed:
            self._requested = True
            if self.asked is not None:
                self.asked.set()
            return self._count

    def wait(self, ticket: int, timeout: float) -> bool:
        """Block until a snapshot newer than ``ticket`` exists, or the run is paused with its latest one (True),
        or snapshots have failed, or ``timeout`` seconds pass (False)."""
        with self._changed:
            return self._changed.wait_for(
                lambda: self._count > ticket or self._paused or self.error is not None, timeout
            )

    def latest(self) -> NetworkSnapshot | None:
        with self._changed:
            return self._latest

    def history(self) -> list[NetworkSnapshot]:
        """The start and the epoch ends (at most ``HISTORY_LIMIT``, spread over the run), oldest first."""
        with self._changed:
            return list(self._history)

    def latest_weights(self) -> LatestWeights | None:
        with self._changed:
            return self._weights


def _thin(history: list[NetworkSnapshot]) -> list[NetworkSnapshot]:
    """Over the limit, drop the inner snapshot whose neighbours are closest: the rest stays spread over the run."""
    if len(history) <= HISTORY_LIMIT:
        return history
    i = min(range(1, len(history) - 1), key=lambda i: history[i + 1].step - history[i - 1].step)
    return history[:i] + history[i + 1 :]


# ---------------------------------------------------------------------------------------------- present


FILTERS_LABEL_H = 22


def _labels(lang: str) -> tuple[bool, Any]:
    """(Korean?, a font for size): Korean only where the machine has a font with Hangul (else English)."""
    ko = lang == "ko" and korean_available()
    return ko, (lambda size: page_font(size, "ko")) if ko else (lambda size: ImageFont.load_default(size=size))


def filters_image(snapshot: NetworkSnapshot, min_patch: int = 24, lang: str = "en") -> Image.Image:
    """The first conv's kernels as RGB patches, each stretched to its own range (``features.filters_picture``); below,
    what training has changed in each since the run's start, drawn the same way. Small kernels stay close to their
    random start for a while; their changes show the edge and colour detectors forming. Labels in ``lang``."""
    ko, font_of = _labels(lang)
    font = font_of(14)
    now = filters_picture(snapshot.filters, min_patch)
    change = snapshot.filters - snapshot.start_filters
    canvas = Image.new("RGB", (now.width, 2 * (FILTERS_LABEL_H + now.height)), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    draw.text((2, 3), f"지금 (단계 {snapshot.step})" if ko else f"now (step {snapshot.step})", fill=TEXT, font=font)
    canvas.paste(now, (0, FILTERS_LABEL_H))
    y = FILTERS_LABEL_H + now.height
    since = f"단계 {snapshot.start_step} 이후 바뀐 양" if ko else f"change since step {snapshot.start_step}"
    draw.text((2, y + 3), since, fill=TEXT, font=font)
    if change.abs().max() > 0:
        canvas.paste(filters_picture(change, min_patch), (0, y + FILTERS_LABEL_H))
    else:
        draw.text(
            (2, y + FILTERS_LABEL_H + now.height // 2 - 8), "아직 없음" if ko else "none yet", fill=TEXT, font=font
        )
    return canvas


def probe_maps_image(snapshot: NetworkSnapshot, probe_px: int = 128, lang: str = "en") -> Image.Image:
    """The probe (with its true class) on the left; per stage, a labelled row of its most active channels' maps;
    labels in ``lang``."""
    ko, font_of = _labels(lang)
    font, small = font_of(15), font_of(12)
    pad, label_h = 6, 22
    grids = [
        feature_grid(stage.maps, top_n=len(stage.channels), cols=len(stage.channels), labels=False)[0]
        for stage in snapshot.stages
    ]
    probe = enlarge(snapshot.probe.pil(), probe_px)
    left = probe.width + 3 * pad
    width = left + max(grid.width for grid in grids) + pad
    height = max(pad + sum(label_h + grid.height for grid in grids) + pad, probe.height + 60)
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    canvas.paste(probe, (pad, pad + label_h))
    draw.text((pad, pad), "프로브" if ko else "probe", fill=TEXT, font=font)
    draw.text((pad, pad + label_h + probe.height + 6), snapshot.probe.class_name, fill=TEXT, font=font)
    index = snapshot.probe.index
    draw.text(
        (pad, pad + label_h + probe.height + 26),
        f"테스트 이미지 #{index}" if ko else f"test image #{index}",
        fill=TEXT,
        font=small,
    )
    y = pad
    for stage, grid in zip(snapshot.stages, grids):
        c, h, w = stage.shape
        draw.text(
            (left + 4, y + 2),
            f"{stage.key} ({stage.kind}) · {c} x {h}x{w}, "
            + (
                f"채널 {c}개 중 가장 강한 {len(stage.channels)}개"
                if ko
                else f"the {len(stage.channels)} most active of {c} channels"
            ),
            fill=TEXT,
            font=small if len(stage.key) > 24 else font,
        )
        canvas.paste(grid, (left, y + label_h))
        y += label_h + grid.height
    return canvas


def describe(snapshot: NetworkSnapshot, epochs: int | None = None, lang: str = "en") -> str:
    """One line: which weights these are ("before training", "after epoch 2", "epoch 3, step 300"); ``lang``
    "ko" for the Korean page."""
    of = f"/{epochs}" if epochs else ""
    ko = lang == "ko"
    if snapshot.epoch_end:
        when = f"에폭 {snapshot.epochs_done}{of} 후" if ko else f"after epoch {snapshot.epochs_done}{of}"
    elif snapshot.step == 0:
        when = "학습 전 (무작위 가중치)" if ko else "before training (random weights)"
    else:
        when = f"에폭 {snapshot.epochs_done + 1}{of} 중" if ko else f"during epoch {snapshot.epochs_done + 1}{of}"
    return f"{snapshot.model_name} {when}, {'단계' if ko else 'step'} {snapshot.step}"


__all__ = [
    "HISTORY_LIMIT",
    "MAPS_PER_STAGE",
    "SNAPSHOT_EVERY_S",
    "NetworkSnapshot",
    "Probe",
    "SnapshotLog",
    "StageMaps",
    "describe",
    "filters_image",
    "probe_maps_image",
]
