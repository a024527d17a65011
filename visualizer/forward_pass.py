"""One image through one model with one set of weights: the forward pass that every view reads.

The feature grid, the overview strip, the predictions, Grad-CAM and a layer clicked in the diagram all read
one ``ForwardPass``. Its first request runs the network once — hooks on the layers asked for, and, when
Grad-CAM is wanted, gradients as far back as its layer — and keeps what it captured. A later request for
another layer runs one early-stopped forward that ends at that layer (a fraction of the network); another
Grad-CAM class needs one more forward and backward. Passes are shared by everyone looking at the same image
with the same weights, and the cache is bounded by the bytes of what they keep, not by a count.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import torch
from PIL import Image

from visualizer.features import FeatureCapture, parse_layer
from visualizer.gradcam import CamCapture

MAX_CACHE_BYTES = 256 * 2**20  # activations and inputs kept over all passes
MAX_PASSES = 16
# A full pass keeps every spatial layer's output when all of them fit this (VGG-16 at 224: ~110 MB), so a
# click on any layer afterwards costs no forward at all; bigger models keep what was asked.
CAPTURE_ALL_BYTES = 160 * 2**20


class ForwardPass:
    """What one (image, model, weights) produced; ask with ``ensure`` / ``activation`` / ``grad_cam``.

    Holds no reference to the model itself (the weights cache owns it): a new capture asks the cache again.
    """

    def __init__(
        self, load_args: tuple[str, str, str | None], loaded: Any, tensor: torch.Tensor, seen: Image.Image, key: tuple
    ) -> None:
        self._load_args = load_args
        self._loaded = weakref.ref(loaded)  # no strong reference: the weights cache decides what stays in memory
        self.key = key
        self.model_name: str = loaded.model_name
        self.source: str = loaded.source
        self.class_names: list[str] = list(loaded.class_names)
        self.info: str = loaded.info
        self.tensor = tensor
        self.seen = seen
        self.logits: torch.Tensor | None = None  # 1-D, from the first full pass
        self._acts: dict[str, torch.Tensor] = {}  # layer key → C×H×W (or C) float32 on the CPU
        self._cams: dict[tuple[str, int], Any] = {}
        self.full_forwards = 0  # how often the whole network ran (tests and benchmarks read these)
        self.partial_forwards = 0
        self._lock = threading.RLock()

    @property
    def loaded(self) -> Any:
        """The model these activations came from: the same object while cached, else rebuilt from the same
        source; a source that now gives other weights ("auto", a run in progress) is refused, not mixed in."""
        from visualizer.weight_sources import WeightsError, load_weights

        loaded = self._loaded() or load_weights(*self._load_args)
        if loaded.key != self.key[0]:
            raise WeightsError(
                "the weights changed since this image was shown (a training run moved on, or new "
                "weights arrived); show the feature maps again"
            )
        return loaded

    @property
    def nbytes(self) -> int:
        acts = sum(t.numel() * t.element_size() for t in self._acts.values())
        cams = sum(h.nbytes for h, _ in self._cams.values())
        return acts + cams + self.tensor.numel() * self.tensor.element_size()

    # ----------------------------------------------------------------------------------------------- runs

    def ensure(self, layers: Iterable[str] = (), cam_layer: str | None = None, cam_class: int | None = None) -> None:
        """Make sure ``layers``' activations, the logits and (if asked) one Grad-CAM are available, running the
        network at most once: fully when the logits or the Grad-CAM are missing, else only up to the layers."""
        with self._lock:
            missing = [layer for layer in dict.fromkeys(layers) if layer not in self._acts]
            cam_key = self._cam_key(cam_layer, cam_class) if cam_layer else None
            if self.logits is None:
                self._full(list(dict.fromkeys(missing + self._all_spatial())), cam_layer, cam_class)
            elif cam_key is not None and cam_key not in self._cams:
                self._full(missing, cam_layer, cam_class)
            elif missing:
                self._partial(missing)
        _trim()

    def activation(self, layer: str) -> torch.Tensor:
        """``layer``'s output (C×H×W) for this image; captured by one early-stopped forward if not yet kept."""
        self.ensure([layer])
        return self._acts[layer]

    def grad_cam(self, layer: str, class_index: int | None = None) -> tuple[Any, int]:
        """``(heatmap H×W in [0, 1], class explained)``; ``class_index`` None: the top prediction."""
        self.ensure(cam_layer=layer, cam_class=class_index)
        return self._cams[self._cam_key(layer, class_index)]

    def _cam_key(self, layer: str, class_index: int | None) -> tuple[str, int | None]:
        if class_index is None and self.logits is not None:
            class_index = int(self.logits.argmax())
        return layer, class_index

    def _all_spatial(self) -> list[str]:
        """Every layer with a spatial map, when their outputs together fit ``CAPTURE_ALL_BYTES``."""
        from visualizer.features import model_analysis, spatial_layers

        layers = spatial_layers(self.model_name)
        records = {r.key: r for r in model_analysis(self.model_name).layers}
        total = sum(records[s.key].activation_bytes for s in layers if s.key in records)
        return [s.key for s in layers] if total <= CAPTURE_ALL_BYTES else []

    def _full(self, layers: list[str], cam_layer: str | None, cam_class: int | None) -> None:
        loaded = self.loaded
        model = loaded.model
        cam = CamCapture(model, cam_layer) if cam_layer else contextlib.nullcontext()
        grads = torch.enable_grad() if cam_layer else torch.no_grad()
        # Hooks live on the shared, cached model: hold its lock so no other request's pass sees them.
        with loaded.lock, grads, cam as hooked, FeatureCapture(model, layers) as capture:
            logits = model(self.tensor)
            logits = logits.reshape(1, -1)
            heat = hooked.heatmap(logits, cam_class, self.tensor.shape[-2:]) if cam_layer else None
        self.full_forwards += 1
        self.logits = logits.detach()[0]
        for layer in layers:
            self._acts[layer] = capture.get(layer)[0]
        if heat is not None:
            self._cams[(cam_layer, heat[1])] = heat
            if cam_class is None:
                self._cams[self._cam_key(cam_layer, None)] = heat

    def _partial(self, layers: list[str]) -> None:
        loaded = self.loaded
        # Stop as soon as every asked layer has run, unless one is a module's later call (name#k).
        early = all(parse_layer(layer)[1] == 0 for layer in layers)
        with loaded.lock, torch.no_grad(), FeatureCapture(loaded.model, layers, stop_early=early) as capture:
            loaded.model(self.tensor)
        self.partial_forwards += 1
        for layer in layers:
            self._acts[layer] = capture.get(layer)[0]


_passes: OrderedDict[tuple, ForwardPass] = OrderedDict()
_passes_lock = threading.Lock()


def image_digest(tensor: torch.Tensor) -> str:
    return hashlib.sha1(tensor.numpy().tobytes()).hexdigest()


def forward_pass(
    image: Any, model_name: str, source: str = "random", checkpoint_path: str | None = None
) -> ForwardPass:
    """The ``ForwardPass`` of ``image`` (path, bytes, PIL ...) through ``model_name`` with weights from ``source``;
    the same object for every caller while it stays cached (nothing runs until a view asks)."""
    from visualizer.images import network_input
    from visualizer.weight_sources import load_weights

    loaded = load_weights(model_name, source, checkpoint_path)
    tensor, seen = network_input(image, loaded.model_name)
    key = (loaded.key, image_digest(tensor))
    with _passes_lock:
        run = _passes.get(key)
        if run is None:
            run = ForwardPass((model_name, source, checkpoint_path), loaded, tensor, seen, key)
            _passes[key] = run
        _passes.move_to_end(key)
    _trim()
    return run


def cached(key: tuple) -> ForwardPass | None:
    """A pass still in the cache by its key (the page keeps only the key in its state)."""
    with _passes_lock:
        return _passes.get(key)


def _trim() -> None:
    """Drop least recently used passes until the rest fit ``MAX_CACHE_BYTES`` and ``MAX_PASSES``."""
    with _passes_lock:
        total = sum(p.nbytes for p in _passes.values())
        while len(_passes) > 1 and (total > MAX_CACHE_BYTES or len(_passes) > MAX_PASSES):
            _, old = _passes.popitem(last=False)
            total -= old.nbytes


def clear() -> None:
    with _passes_lock:
        _passes.clear()
