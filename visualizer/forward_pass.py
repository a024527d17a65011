"""One image through one model with one set of weights: the forward pass that every view reads.

The feature grid, the overview strip, the predictions, Grad-CAM, a layer clicked in the diagram and a unit's
computation all read one ``ForwardPass``. A request loads its weights once (``weight_sources.load_weights``),
finds the image's pass (``for_image``: the image is decoded and preprocessed once, then known by its file), and
asks it for what it shows (``ensure``): the first request runs the network once — hooks on the layers asked for,
and, when Grad-CAM is wanted, gradients as far back as its layer — and keeps what it captured. A later request for
another layer runs one early-stopped forward that ends at that layer (a fraction of the network); another Grad-CAM
class needs one more forward and backward. Passes are shared by everyone looking at the same image with the same
weights, and the cache is bounded by the bytes of what they keep (``--pass-cache``), not by a count. Running the network
takes the process's one forward slot (``budgets.memory.ForwardSlot``); reading what a pass keeps does not, so
requests served from kept passes run side by side.

A pass holds no reference to the model (the weights cache decides what stays in memory): each request hands in the
``LoadedModel`` it loaded, and a pass refuses weights other than the ones it was computed from.

A unit's computation reads a layer's inputs as well as its output (``tensors``, the source ``units.compute``
reads): they are captured by the same ``ensure``, so a unit of a layer the pass holds costs no forward.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from PIL import Image

from visualizer.analysis import analyze_model
from visualizer.budgets import current, outputs
from visualizer.budgets.memory import ForwardSlot, check_forward
from visualizer.features.capture import CamCapture, FeatureCapture, LayerTensors
from visualizer.features.layers import spatial_layers
from visualizer.gradcam import grad_cam_heatmap
from visualizer.images import ImageSource, load_image, preprocess
from visualizer.records import parse_layer_key
from visualizer.weight_sources import LoadedModel, WeightsError

NETWORK_INPUT = "input"  # the records' name for what the network reads (``LayerRecord.input_from``)
MAX_HASHED_FILE = 64 * 2**20  # a file known by its bytes' digest up to this size (the page's uploads: 20 MB)
MAX_PASSES = 64  # besides their bytes (``--pass-cache``): a bound on the bookkeeping of many tiny passes
# A full pass keeps every spatial layer's output when all of them fit this (VGG-16 at 224: ~110 MB), so a
# click on any layer afterwards costs no forward at all; bigger models keep what was asked.
CAPTURE_ALL_BYTES = 160 * 2**20


class ForwardPass:
    """What one (image, model, weights) produced; ask with ``ensure`` / ``activation`` / ``grad_cam``."""

    def __init__(self, loaded: LoadedModel, tensor: torch.Tensor, seen: Image.Image, key: tuple) -> None:
        self.key = key  # (weights key, image digest)
        self.model_name: str = loaded.model_name
        self.source: str = loaded.source
        self.class_names: list[str] = list(loaded.class_names)
        self.info: str = loaded.info
        self.info_ko: str = loaded.info_ko or loaded.info
        self.tensor = tensor  # 1×C×H×W, what the network reads
        self.seen = seen  # the same as a PIL image (what the network sees)
        self.logits: torch.Tensor | None = None  # 1-D, from the first full pass
        self._acts: dict[str, torch.Tensor] = {}  # layer key → C×H×W (or C) float32 on the CPU
        self._asked: set[str] = set()  # the layers some view asked for (the rest were kept because they fitted)
        self._inputs: dict[str, tuple[torch.Tensor, ...]] = {}  # layer key → what it read (batch dim dropped)
        self._fed_by: dict[str, str] = {}  # layer key → the kept layer whose output, unchanged, it read
        self._cams: dict[tuple[str, int], Any] = {}
        self._pictures: dict[tuple, Any] = {}  # view key → what ``picture`` drew (PIL images, with their data)
        self.full_forwards = 0  # how often the whole network ran (tests and benchmarks read these)
        self.partial_forwards = 0
        self._lock = threading.RLock()
        # What the pass holds changes only when a view adds to it or it sheds; every request's ``_trim`` reads
        # ``nbytes`` of every pass, so the count is kept until the next change (``_changed``, after each change).
        self._changes = 0
        self._counted = (-1, 0)

    @property
    def nbytes(self) -> int:
        changes = self._changes
        if self._counted[0] != changes:
            self._counted = (changes, self._count_bytes())
        return self._counted[1]

    def _changed(self) -> None:
        self._changes += 1

    def _count_bytes(self) -> int:
        # (copies of the dicts' values first: another request may be adding to them meanwhile)
        acts = sum(_tensor_bytes(t) for t in list(self._acts.values()))
        inputs = sum(_tensor_bytes(t) for ts in list(self._inputs.values()) for t in ts)
        cams = sum(h.nbytes for h, _ in list(self._cams.values()))
        pictures = sum(_picture_bytes(v) for v in list(self._pictures.values()))
        return acts + inputs + cams + pictures + _tensor_bytes(self.tensor)

    def shed(self) -> int:
        """Drop the layers this pass kept only because they fitted (``CAPTURE_ALL_BYTES``) and no view has asked
        for; the bytes freed (0 while a request is running the network for this pass). What views asked for, the
        logits, Grad-CAMs and pictures stay, so every view shown so far is still served without a forward."""
        if not self._lock.acquire(blocking=False):
            return 0
        try:
            extra = [key for key in self._acts if key not in self._asked]
            freed = sum(_tensor_bytes(self._acts.pop(key)) for key in extra)
            self._changed()
            return freed
        finally:
            self._lock.release()

    def has_picture(self, key: tuple) -> bool:
        """Whether ``picture(key, …)`` is kept (what it was drawn from is then not needed again)."""
        with self._lock:
            return key in self._pictures

    def picture(self, key: tuple, draw: Callable[[], Any]) -> Any:
        """What ``draw()`` makes from this pass (a grid and its tiles, the overview, an overlay), drawn once per
        ``key`` and kept with the pass: a class showing the same view shares one drawing, and one file of it
        (``budgets.outputs.frozen``). ``key`` names everything the drawing depends on besides the pass; what is
        kept is never changed afterwards."""
        with self._lock:
            found = self._pictures.get(key)
        if found is None:
            found = draw()
            for image in _images(found):
                outputs.frozen(image)
            with self._lock:
                found = self._pictures.setdefault(key, found)
                self._changed()
        return found

    # ----------------------------------------------------------------------------------------------- runs

    def ensure(
        self,
        loaded: LoadedModel,
        layers: Iterable[str] = (),
        cam_layer: str | None = None,
        cam_class: int | None = None,
        inputs_of: Iterable[str] = (),
        drawn: Iterable[str] = (),
    ) -> None:
        """Make sure ``layers``' outputs, ``inputs_of``'s inputs, the logits and (if asked) one Grad-CAM are
        available, running the network at most once: fully when the logits or the Grad-CAM are missing, else
        only up to the layers. ``drawn``: outputs needed once, for a picture kept with the pass (the overview):
        captured the same way, but shed with the layers kept only because they fitted (``shed``)."""
        self._check(loaded)
        with self._lock:
            self._ensure_locked(loaded, list(layers), cam_layer, cam_class, list(inputs_of), list(drawn))
        _trim()

    def _ensure_locked(
        self,
        loaded: LoadedModel,
        layers: list[str],
        cam_layer: str | None,
        cam_class: int | None,
        inputs_of: list[str],
        drawn: list[str],
    ) -> None:
        self._asked.update(layers, inputs_of)  # kept from now on, whatever else is shed (``shed``)
        missing = [layer for layer in dict.fromkeys(layers + drawn) if layer not in self._acts]
        inputs = [layer for layer in dict.fromkeys(inputs_of) if layer not in self._inputs]
        cam_key = self._cam_key(cam_layer, cam_class) if cam_layer else None
        if self.logits is None:
            self._full(loaded, list(dict.fromkeys(missing + self._all_spatial())), inputs, cam_layer, cam_class)
        elif cam_key is not None and cam_key not in self._cams:
            self._full(loaded, missing, inputs, cam_layer, cam_class)
        elif missing or inputs:
            self._partial(loaded, missing, inputs)

    def activation(self, loaded: LoadedModel, layer: str, keep: bool = True) -> torch.Tensor:
        """``layer``'s output (C×H×W) for this image; captured by one early-stopped forward if not yet kept.
        ``keep`` False: read for a picture kept with the pass (it may be shed afterwards, see ``ensure``)."""
        self._check(loaded)
        with self._lock:  # (read before any shedding: ``shed`` passes over a pass in use)
            self._ensure_locked(loaded, [layer] if keep else [], None, None, [], [] if keep else [layer])
            found = self._acts[layer]
        _trim()
        return found

    def layer_inputs(self, loaded: LoadedModel, layer: str) -> tuple[torch.Tensor, ...]:
        """The tensors ``layer`` read for this image (batch dim dropped); one early-stopped forward if not kept."""
        self.ensure(loaded, [layer], inputs_of=[layer])
        return self._inputs[layer]

    def tensors(
        self, loaded: LoadedModel, needed: Mapping[str, str] | Iterable[str] = ()
    ) -> Callable[[str], LayerTensors]:
        """A unit's tensor source over this pass: ``read(key) -> LayerTensors(inputs, output)``, batch dim kept
        (views of what the pass keeps, never copies); ``"input"`` is the image tensor.

        ``needed`` maps layer keys to the parts a unit reads (``"inputs"``, ``"output"``, ``"inputs+output"``:
        ``units.compute.tensors_needed``; plain keys mean their outputs). All of it is captured now by one
        ``ensure`` — nothing runs when the pass already holds it — so stepping through units runs nothing. A key
        read later that was not listed costs one early-stopped forward for its output (its inputs: as kept)."""
        parts = dict(needed) if isinstance(needed, Mapping) else dict.fromkeys(needed, "output")
        keys = [key for key in parts if key != NETWORK_INPUT]
        with self._lock:  # a layer that read a kept layer's output as it was returned needs no inputs of its own
            inputs = [key for key in keys if "inputs" in parts[key] and self._kept_input(key) is None]
            # … as long as that output stays: asked for, it is never shed
            sources = [self._fed_by[key] for key in keys if "inputs" in parts[key] and key not in inputs]
        self.ensure(loaded, keys + [s for s in sources if s != NETWORK_INPUT], inputs_of=inputs)

        def read(key: str) -> LayerTensors:
            if key == NETWORK_INPUT:
                return LayerTensors((), self.tensor)
            output = self.activation(loaded, key)
            with self._lock:
                kept = self._inputs.get(key) or self._kept_input(key) or ()
            return LayerTensors(tuple(t[None] for t in kept), output[None])

        return read

    def _kept_input(self, layer: str) -> tuple[torch.Tensor, ...] | None:
        """``layer``'s input when it is the output of a layer this pass keeps (``FeatureCapture.fed_by``)."""
        source = self._fed_by.get(layer)
        if source == NETWORK_INPUT:
            return (self.tensor[0],)
        return (self._acts[source],) if source in self._acts else None

    def grad_cam(self, loaded: LoadedModel, layer: str, class_index: int | None = None) -> tuple[Any, int]:
        """``(heatmap H×W in [0, 1], class explained)``; ``class_index`` None: the top prediction."""
        self.ensure(loaded, cam_layer=layer, cam_class=class_index)
        return self._cams[self._cam_key(layer, class_index)]

    def _check(self, loaded: LoadedModel) -> None:
        if loaded.key != self.key[0]:
            raise WeightsError(
                "the weights changed since this image was shown (a training run moved on, or new weights "
                "arrived); show the feature maps again"
            )

    def _cam_key(self, layer: str, class_index: int | None) -> tuple[str, int | None]:
        if class_index is None and self.logits is not None:
            class_index = int(self.logits.argmax())
        return layer, class_index

    def _all_spatial(self) -> list[str]:
        """Every layer with a spatial map, when their outputs together fit ``CAPTURE_ALL_BYTES``."""
        analysis = analyze_model(self.model_name)
        layers = spatial_layers(analysis)
        records = {r.key: r for r in analysis.layers}
        total = sum(records[s.key].activation_bytes for s in layers)
        return [s.key for s in layers] if total <= CAPTURE_ALL_BYTES else []

    def _full(
        self, loaded: LoadedModel, layers: list[str], inputs: list[str], cam_layer: str | None, cam_class: int | None
    ) -> None:
        # Budgeted before it runs: this image's activations (and Grad-CAM's gradients) from the engine's counts.
        check_forward(self.model_name, tuple(self.tensor.shape[1:]), cam_layer)
        model = loaded.model
        cam = CamCapture(model, cam_layer) if cam_layer else contextlib.nullcontext()
        grads = torch.enable_grad() if cam_layer else torch.no_grad()
        # Hooks live on the shared, cached model: hold its lock so no other request's pass sees them; and one
        # forward at a time in the process (``ForwardSlot``).
        with (
            ForwardSlot(loaded.lock),
            grads,
            cam as hooked,
            FeatureCapture(model, layers, keep_inputs=inputs) as capture,
        ):
            capture.watch(NETWORK_INPUT, self.tensor)
            logits = model(self.tensor).reshape(1, -1)
            if cam_layer:
                heat = grad_cam_heatmap(hooked.captured(), logits, cam_class, self.tensor.shape[-2:], cam_layer)
        self.full_forwards += 1
        self.logits = logits.detach()[0]
        self._keep(capture, layers, inputs)
        if cam_layer:
            self._cams[(cam_layer, heat[1])] = heat
            if cam_class is None:
                self._cams[self._cam_key(cam_layer, None)] = heat
            self._changed()

    def _partial(self, loaded: LoadedModel, layers: list[str], inputs: list[str]) -> None:
        # Stop as soon as every asked layer has run, unless one is a module's later call (name#k).
        early = all(parse_layer_key(layer)[1] == 0 for layer in [*layers, *inputs])
        check_forward(self.model_name, tuple(self.tensor.shape[1:]))
        model = loaded.model
        with (
            ForwardSlot(loaded.lock),
            torch.no_grad(),
            FeatureCapture(model, layers, early, keep_inputs=inputs) as capture,
        ):
            capture.watch(NETWORK_INPUT, self.tensor)
            model(self.tensor)
        self.partial_forwards += 1
        self._keep(capture, layers, inputs)

    def _keep(self, capture: FeatureCapture, layers: list[str], inputs: list[str]) -> None:
        self._fed_by.update(capture.fed_by)
        for layer in layers:
            self._acts[layer] = capture.get(layer)[0]
        for layer in inputs:
            self._inputs[layer] = tuple(t[0] for t in capture.get_inputs(layer))
            self._acts.setdefault(layer, capture.get(layer)[0])
        self._changed()


def _images(value: Any) -> list[Image.Image]:
    """The PIL images in a picture's value (an image, or a tuple holding some)."""
    if isinstance(value, Image.Image):
        return [value]
    return [v for v in value if isinstance(v, Image.Image)] if isinstance(value, (tuple, list)) else []


def _tensor_bytes(tensor: torch.Tensor) -> int:
    return tensor.numel() * tensor.element_size()


def _picture_bytes(value: Any) -> int:
    return sum(image.width * image.height * len(image.getbands()) for image in _images(value))


_passes: OrderedDict[tuple, ForwardPass] = OrderedDict()
_by_file: OrderedDict[tuple, tuple] = OrderedDict()  # (weights key, file identity) → pass key
_passes_lock = threading.Lock()


def image_digest(tensor: torch.Tensor) -> str:
    return hashlib.sha1(tensor.numpy().tobytes()).hexdigest()


def _file_identity(image: Any) -> tuple | None:
    """An image file (a path, or its bytes) known by its content, so a later request for it needs no decoding:
    the page hands each upload over as a new file of its own, so a path or its time would miss the same photo."""
    if isinstance(image, (bytes, bytearray)):
        return ("bytes", hashlib.sha1(image).hexdigest())
    if not isinstance(image, (str, os.PathLike)):
        return None
    try:
        if os.path.getsize(image) > MAX_HASHED_FILE:
            return None  # (decoded first: load_image refuses what is too big to show)
        with open(image, "rb") as f:
            return ("file", hashlib.file_digest(f, "sha1").hexdigest())
    except OSError:
        return None  # load_image says what is wrong with the path


def for_image(image: ImageSource, loaded: LoadedModel) -> ForwardPass:
    """The ``ForwardPass`` of ``image`` (path, bytes, PIL …) through ``loaded`` (nothing runs until a view asks);
    the same object for every caller while it stays cached."""
    ident = _file_identity(image)
    with _passes_lock:
        known = _by_file.get((loaded.key, ident)) if ident else None
        run = _passes.get(known) if known else None
        if run is not None:
            _passes.move_to_end(known)
            return run
    tensor, seen = preprocess(load_image(image), loaded.model_name)
    key = (loaded.key, image_digest(tensor))
    with _passes_lock:
        run = _passes.get(key)
        if run is None:
            run = ForwardPass(loaded, tensor, seen, key)
            _passes[key] = run
        _passes.move_to_end(key)
        if ident:
            _by_file[(loaded.key, ident)] = key
            while len(_by_file) > 4 * MAX_PASSES:
                _by_file.popitem(last=False)
    _trim()
    return run


def cached(key: tuple) -> ForwardPass | None:
    """A pass still in the cache by its key (the page keeps only the key in its state); reading it is a use
    (the passes a page is stepping through stay while other images come and go)."""
    with _passes_lock:
        run = _passes.get(key)
        if run is not None:
            _passes.move_to_end(key)
        return run


def _trim() -> None:
    """Fit the passes into ``--pass-cache`` (``Limits.pass_cache_bytes``) and ``MAX_PASSES``: first the older
    passes shed the layers they kept only because they fitted (oldest first; VGG-16 at 224: 110 MB → about 15),
    then the least recently used passes go. So a class's photos, each looked at by one student, stay in memory
    with what was shown of them (a 1 GiB cache held 9 VGG-16 passes and thrashed with 16), while the newest pass
    keeps every layer for the next click."""
    limit = current().pass_cache_bytes
    with _passes_lock:
        passes = list(_passes.values())
    total = sum(p.nbytes for p in passes)
    if total <= limit and len(passes) <= MAX_PASSES:
        return  # the common case: every request calls this (a pass added meanwhile trims after itself)
    for old in passes[:-1]:  # (outside the cache's lock: shedding waits for no pass)
        if total <= limit:
            break
        total -= old.shed()
    with _passes_lock:
        total = sum(p.nbytes for p in _passes.values())
        while len(_passes) > 1 and (total > limit or len(_passes) > MAX_PASSES):
            _, old = _passes.popitem(last=False)
            total -= old.nbytes


def clear() -> None:
    with _passes_lock:
        _passes.clear()
        _by_file.clear()
