"""Uploads of every common kind become correct RGB; bad files get a clear message; preprocessing matches the model."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import zoo
from visualizer.images import ImageError, example_images, load_image, preprocess


def save(tmp_path: Path, name: str, image: Image.Image, **kwargs) -> Path:
    path = tmp_path / name
    image.save(path, **kwargs)
    return path


def rgb(image: Image.Image) -> np.ndarray:
    assert image.mode == "RGB"
    return np.asarray(image).astype(int)


# ------------------------------------------------------------------------------------------- good files


def test_16bit_png_is_rescaled_not_clipped(tmp_path):
    values = np.linspace(0, 65535, 64 * 8).reshape(8, 64).astype(np.uint16)
    path = save(tmp_path, "deep.png", Image.fromarray(values))
    assert Image.open(path).mode.startswith("I")  # really a 16-bit file
    out = rgb(load_image(path))
    expected = np.round(values / 257.0).astype(int)  # 65535 -> 255, 0 -> 0
    for c in range(3):
        assert np.array_equal(out[:, :, c], expected)


def test_palette_png_with_transparent_entry(tmp_path):
    image = Image.new("P", (4, 2))
    image.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    image.putdata([0, 1, 0, 1, 1, 1, 0, 0])
    image.info["transparency"] = 1  # palette entry 1 is fully transparent
    path = save(tmp_path, "pal.png", image, transparency=1)
    out = rgb(load_image(path))
    index = np.array([0, 1, 0, 1, 1, 1, 0, 0]).reshape(2, 4)
    assert np.array_equal(out[index == 0], np.tile([10, 20, 30], ((index == 0).sum(), 1)))
    assert np.array_equal(out[index == 1], np.tile([255, 255, 255], ((index == 1).sum(), 1)))  # over white


@pytest.mark.parametrize("alpha", [0, 64, 255])
def test_rgba_is_composited_over_white(tmp_path, alpha):
    path = save(tmp_path, "a.png", Image.new("RGBA", (3, 3), (200, 40, 0, alpha)))
    pixel = rgb(load_image(path))[1, 1]
    expected = [round((c * alpha + 255 * (255 - alpha)) / 255) for c in (200, 40, 0)]
    assert np.all(np.abs(pixel - expected) <= 1)


def test_grayscale_and_la(tmp_path):
    gray = np.arange(48, dtype=np.uint8).reshape(6, 8) * 5
    out = rgb(load_image(save(tmp_path, "g.png", Image.fromarray(gray))))
    assert all(np.array_equal(out[:, :, c], gray) for c in range(3))
    la = Image.fromarray(np.dstack([gray, np.full_like(gray, 255)]), mode="LA")
    out = rgb(load_image(save(tmp_path, "la.png", la)))
    assert np.array_equal(out[:, :, 1], gray)


def test_cmyk_jpeg(tmp_path):
    path = save(tmp_path, "cmyk.jpg", Image.new("CMYK", (8, 8), (255, 0, 0, 0)), quality=95)  # pure cyan
    pixel = rgb(load_image(path))[4, 4]
    assert pixel[0] < 30 and pixel[1] > 225 and pixel[2] > 225


def test_webp_lossless_round_trip(tmp_path):
    data = np.random.default_rng(0).integers(0, 256, (12, 10, 3), dtype=np.uint8)
    path = save(tmp_path, "x.webp", Image.fromarray(data), lossless=True)
    assert np.array_equal(rgb(load_image(path)), data)


def test_animated_gif_gives_first_frame(tmp_path):
    frames = [Image.new("RGB", (6, 6), color) for color in [(255, 0, 0), (0, 255, 0), (0, 0, 255)]]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50, loop=0)
    assert Image.open(path).n_frames == 3
    assert tuple(rgb(load_image(path))[3, 3]) == (255, 0, 0)


def test_exif_rotation_is_applied(tmp_path):
    # Stored 40 wide × 20 high: left half red, right half blue. Orientation 6 = "rotate 90° clockwise to view".
    data = np.zeros((20, 40, 3), dtype=np.uint8)
    data[:, :20] = (255, 0, 0)
    data[:, 20:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = save(tmp_path, "phone.jpg", Image.fromarray(data), exif=exif.tobytes(), quality=95)
    out = rgb(load_image(path))
    expected = np.rot90(data, k=-1).astype(int)  # numpy's clockwise rotation, independent of PIL
    assert out.shape == expected.shape == (40, 20, 3)
    assert np.abs(out - expected)[2:-2].mean() < 8  # JPEG noise only
    assert out[5, 10, 0] > 200 and out[35, 10, 2] > 200  # red on top, blue below


def test_large_image_is_downscaled_keeping_aspect(tmp_path):
    image = Image.new("RGB", (400, 300), (1, 2, 3))
    out = load_image(save(tmp_path, "big.png", image), max_pixels=10_000)
    assert out.width * out.height <= 10_000
    assert abs(out.width / out.height - 4 / 3) < 0.03
    jpeg = load_image(save(tmp_path, "big.jpg", Image.new("RGB", (2000, 1500), (90, 90, 90))), max_pixels=50_000)
    assert jpeg.width * jpeg.height <= 50_000 and abs(jpeg.width / jpeg.height - 4 / 3) < 0.03


def test_other_inputs_bytes_fileobj_pil_numpy(tmp_path):
    data = np.random.default_rng(1).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    path = save(tmp_path, "x.png", Image.fromarray(data))
    assert np.array_equal(rgb(load_image(path.read_bytes())), data)
    with open(path, "rb") as f:
        assert np.array_equal(rgb(load_image(f)), data)
    assert np.array_equal(rgb(load_image(Image.fromarray(data))), data)
    assert np.array_equal(rgb(load_image(data)), data)
    assert np.array_equal(rgb(load_image(data.astype(np.float32) / 255.0)), data)


# -------------------------------------------------------------------------------------------- bad files


def png_with_header_size(width: int, height: int) -> bytes:
    """A valid 1×1 PNG whose IHDR claims ``width``×``height`` (a decompression-bomb header)."""
    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    assert data[12:16] == b"IHDR"
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)


def assert_message(source, *words):
    with pytest.raises(ImageError) as info:
        load_image(source)
    message = str(info.value)
    assert all(word in message for word in words), message
    return message


@pytest.mark.parametrize("side", [12_000, 40_000])  # 144 MP: our limit; 1.6 GP: beyond PIL's own limit too
def test_decompression_bomb_header_is_refused(tmp_path, side):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_with_header_size(side, side))
    assert struct.unpack(">II", path.read_bytes()[16:24]) == (side, side)  # what the header claims
    assert_message(path, "bomb.png", "too large", "megapixels")


def test_truncated_jpeg(tmp_path):
    noise = np.random.default_rng(2).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    full = save(tmp_path, "full.jpg", Image.fromarray(noise)).read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(full[: len(full) // 2])
    assert_message(path, "cut.jpg", "corrupt or truncated")


def test_text_file_renamed_png(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("these are lecture notes, not a picture\n")
    assert_message(path, "notes.png", "not an image")


def test_heic_and_svg_are_named(tmp_path):
    heic = tmp_path / "IMG_0001.HEIC"
    heic.write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64)
    assert_message(heic, "IMG_0001.HEIC", "HEIC", "JPEG")
    svg = tmp_path / "logo.svg"
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"></svg>')
    assert_message(svg, "logo.svg", "SVG", "PNG")


def test_empty_and_missing_files(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    assert_message(path, "empty.jpg", "empty")
    assert_message(b"", "empty")
    assert_message(tmp_path / "nope.png", "not found")
    assert_message(12345, "int")


def test_image_error_is_a_value_error():
    assert issubclass(ImageError, ValueError)


# ---------------------------------------------------------------------------------- examples, preprocess


def test_example_images_exist_and_load():
    paths = example_images()
    assert any(p.endswith("grace_hopper.jpg") for p in paths)
    assert len(paths) >= 2  # matplotlib's plus Gradio's media assets
    for p in paths:
        assert Path(p).is_file()
        assert load_image(p, max_pixels=100_000).mode == "RGB"


@pytest.mark.parametrize("model_name", ["vgg16", "resnet50"])  # resize 256 vs 232 (IMAGENET1K_V2)
def test_preprocess_imagenet_matches_the_weights_transforms(model_name):
    image = load_image(example_images()[0])
    tensor, seen = preprocess(image, model_name)
    reference = zoo.get_spec(model_name).weights.transforms()(image).unsqueeze(0)
    assert tensor.shape == (1, 3, 224, 224) and seen.size == (224, 224)
    assert torch.equal(tensor, reference)


def test_preprocess_cifar_crops_center_and_uses_cifar_stats():
    # 64 wide × 32 high: red | green (middle half) | blue. Shorter side is already 32, so the 32×32 center
    # crop must be all green.
    data = np.zeros((32, 64, 3), dtype=np.uint8)
    data[:, :16] = (255, 0, 0)
    data[:, 16:48] = (0, 255, 0)
    data[:, 48:] = (0, 0, 255)
    tensor, seen = preprocess(Image.fromarray(data), "resnet18_cifar")
    assert seen.size == (32, 32) and tensor.shape == (1, 3, 32, 32)
    assert np.array_equal(np.asarray(seen), data[:, 16:48])
    mean, std = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)  # CIFAR-10 statistics
    expected = [(v - m) / s for v, m, s in zip((0.0, 1.0, 0.0), mean, std)]
    assert torch.allclose(tensor[0, :, 10, 10], torch.tensor(expected), atol=1e-5)
