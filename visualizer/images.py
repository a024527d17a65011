"""Images in, network input out: load anything a person uploads as RGB, then preprocess it as the model expects.

``load_image`` turns a path, bytes, file object, numpy array or PIL image into a safely sized RGB PIL image
(EXIF rotation applied, 16-bit / palette / alpha / CMYK handled, decompression bombs refused).
``preprocess`` applies the model's own transforms (torchvision weights for ImageNet models, CIFAR-10
mean/std at 32×32) and also returns the picture the network actually sees.
"""

from __future__ import annotations

import importlib.util
import io
import os
import warnings
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF

import zoo

# Downscale anything bigger than this (the network sees 224×224 at most; 4 MP keeps overlays sharp).
DEFAULT_MAX_PIXELS = 2048 * 2048
# Refuse to decode more than this many pixels: a 200 MP phone JPEG is decoded at 1/8 scale first, so only
# files whose *decoded* size exceeds this (decompression bombs, giant PNGs) are refused.
MAX_DECODE_PIXELS = 120_000_000
# Where an image was uploaded with transparency, it is shown over white (as a browser would).
BACKGROUND = (255, 255, 255)

ImageSource = str | os.PathLike | bytes | bytearray | io.IOBase | Image.Image | np.ndarray


class ImageError(ValueError):
    """An upload that cannot be used as an image; the message says why and what would work."""


def load_image(source: ImageSource, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Open ``source`` as an RGB PIL image no larger than ``max_pixels`` (aspect ratio kept).

    Raises ``ImageError`` for a missing, empty, corrupt, non-image or absurdly large file.
    """
    if isinstance(source, Image.Image):
        return _finish(source, max_pixels, name="image")
    if isinstance(source, np.ndarray):
        return _finish(_from_array(source), max_pixels, name="array")
    name, fp = _open_bytes(source)
    try:
        with warnings.catch_warnings():
            # We apply our own pixel limit below; PIL's warning would only repeat it.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(fp)
    except Image.DecompressionBombError as exc:
        raise ImageError(
            f"{name} is too large to decode safely ({exc}); upload an image under "
            f"{MAX_DECODE_PIXELS // 1_000_000} megapixels"
        ) from exc
    except UnidentifiedImageError as exc:
        raise ImageError(
            f"{name} is not {_unreadable_kind(fp.getvalue())}; upload a JPEG, PNG, WebP, GIF or BMP"
        ) from exc
    except OSError as exc:
        raise ImageError(f"{name} could not be read ({exc}); upload a JPEG, PNG, WebP, GIF or BMP") from exc
    return _finish(image, max_pixels, name=name)


def _open_bytes(source: Any) -> tuple[str, io.IOBase]:
    if isinstance(source, (bytes, bytearray)):
        if not source:
            raise ImageError("the upload is empty (0 bytes); choose an image file")
        return "the upload", io.BytesIO(bytes(source))
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise ImageError(f"image file not found: {path}")
        if path.stat().st_size == 0:
            raise ImageError(f"{path.name} is empty (0 bytes); choose an image file")
        return path.name, io.BytesIO(path.read_bytes())
    if hasattr(source, "read"):
        data = source.read()
        if not data:
            raise ImageError("the upload is empty (0 bytes); choose an image file")
        return getattr(source, "name", "the upload"), io.BytesIO(data)
    raise ImageError(f"cannot load an image from a {type(source).__name__}; pass a path, bytes or a PIL image")


def _unreadable_kind(data: bytes) -> str:
    """Words for a file PIL cannot open, naming the usual suspects (iPhone HEIC photos, SVG drawings)."""
    head = data[:256].lstrip()
    if data[4:8] == b"ftyp" and data[8:12] in (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1"):
        return (
            "an image file this app can read (it is a HEIC/HEIF photo: export it as JPEG, or set the phone to "
            "'Most Compatible')"
        )
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in data[:1024]):
        return "an image file this app can read (it is an SVG drawing: export it as PNG)"
    return "an image file this app can read (not an image at all, or an unsupported format)"


def _from_array(arr: np.ndarray) -> Image.Image:
    """Arrays as Gradio hands them over: H×W or H×W×{1,3,4}, uint8 (or float in [0, 1])."""
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)) or 0 in arr.shape:
        raise ImageError(f"an image array must be H×W or H×W×3/4, got shape {arr.shape}")
    if arr.dtype != np.uint8:
        arr = np.asarray(arr, dtype=np.float64)
        scale = 255.0 if np.nanmax(arr) <= 1.0 else 1.0
        arr = np.clip(np.nan_to_num(arr) * scale, 0, 255).round().astype(np.uint8)
    return Image.fromarray(arr)


def _finish(image: Image.Image, max_pixels: int, name: str) -> Image.Image:
    if max_pixels < 1:
        raise ValueError(f"max_pixels must be positive, got {max_pixels}")
    w, h = image.size
    if w == 0 or h == 0:
        raise ImageError(f"{name} has no pixels ({w}×{h})")
    if getattr(image, "n_frames", 1) > 1:
        image.seek(0)  # animated GIF / WebP / APNG: the first frame
    if image.format in ("JPEG", "MPO") and w * h > max_pixels:  # MPO: phone JPEGs with extra frames
        # Let libjpeg decode at 1/2, 1/4 or 1/8 scale: a huge phone photo never exists at full size in memory.
        scale = (max_pixels / (w * h)) ** 0.5
        image.draft("RGB", (max(1, int(w * scale)), max(1, int(h * scale))))
        w, h = image.size
    if w * h > MAX_DECODE_PIXELS:
        raise ImageError(
            f"{name} is {w}×{h} = {w * h / 1e6:.0f} megapixels, too large to decode safely; "
            f"upload an image under {MAX_DECODE_PIXELS // 1_000_000} megapixels"
        )
    try:
        image.load()
        image = ImageOps.exif_transpose(image)  # phone photos: rotate as the camera meant
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{name} is corrupt or truncated ({exc}); re-export or re-upload the image") from exc
    image = to_rgb(image)
    if image.width * image.height > max_pixels:
        scale = (max_pixels / (image.width * image.height)) ** 0.5
        size = (max(1, int(image.width * scale)), max(1, int(image.height * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return image


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode to 8-bit RGB: high bit depths rescaled (not clipped), transparency over white."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return Image.fromarray(_to_uint8(np.asarray(image), mode)).convert("RGB")
    if mode == "P" or mode == "PA":
        image = image.convert("RGBA")  # the palette may carry transparency
    elif mode == "LA" or mode == "La":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "RGBa"):
        background = Image.new("RGB", image.size, BACKGROUND)
        background.paste(image.convert("RGBA"), mask=image.convert("RGBA").getchannel("A"))
        return background
    return image.convert("RGB")  # L, 1, CMYK, YCbCr, LAB, HSV


def _to_uint8(arr: np.ndarray, mode: str) -> np.ndarray:
    arr = arr.astype(np.float64)
    if mode.startswith("I;16"):
        return np.round(arr / 257.0).astype(np.uint8)  # 65535 -> 255 exactly
    lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
    if mode == "I" and lo >= 0 and hi <= 255:
        return arr.astype(np.uint8)
    if mode == "I" and lo >= 0 and hi <= 65535:
        return np.round(arr / 257.0).astype(np.uint8)  # 16-bit PNGs open as "I" in some Pillow versions
    if mode == "F" and lo >= 0 and hi <= 1:
        return np.round(arr * 255.0).astype(np.uint8)
    span = hi - lo if hi > lo else 1.0
    return np.round((np.nan_to_num(arr, nan=lo) - lo) / span * 255.0).astype(np.uint8)


def example_images() -> list[str]:
    """Example photos that ship with the dependencies (no downloads): matplotlib's and Gradio's samples."""
    found = [Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"]
    try:
        spec = importlib.util.find_spec("gradio")  # locate the package without importing it
        if spec is not None and spec.origin:
            folder = Path(spec.origin).parent / "media_assets" / "images"
            if folder.is_dir():
                files = [p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".gif", ".webp")]
                # Photos first (they make the best examples), then logos and screenshots.
                found += sorted(files, key=lambda p: (p.suffix.lower() not in (".jpg", ".jpeg"), p.name))
    except (ImportError, ValueError):
        pass
    return [str(p) for p in found if p.is_file()]


def preprocess(image: Image.Image, model_name: str) -> tuple[torch.Tensor, Image.Image]:
    """``(tensor 1×C×H×W, what the network sees as a PIL image)`` using the model's own transforms.

    ImageNet models: the torchvision weights' resize → center crop → normalize (the same numbers when the
    model has no weights: resize to H/0.875, crop H). CIFAR-10 models: shorter side to 32, center crop 32,
    CIFAR-10 mean/std.
    """
    spec = zoo.get_spec(model_name)
    image = to_rgb(image)
    _, height, width = spec.input_size
    transforms = spec.weights.transforms() if spec.weights is not None and spec.dataset == "imagenet" else None
    if transforms is not None:
        resize, crop = transforms.resize_size, transforms.crop_size
        interpolation, mean, std = transforms.interpolation, transforms.mean, transforms.std
    else:
        # torchvision's classic ImageNet recipe (256 → 224) scaled to the design size; CIFAR: no margin.
        resize = [height] if spec.dataset == "cifar10" else [round(height / 0.875)]
        crop = [height, width]
        interpolation, mean, std = InterpolationMode.BILINEAR, list(spec.mean), list(spec.std)
    seen = TF.center_crop(TF.resize(image, resize, interpolation=interpolation, antialias=True), crop)
    tensor = TF.normalize(TF.to_tensor(seen), mean=mean, std=std).unsqueeze(0)
    return tensor, seen
