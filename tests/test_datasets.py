import hashlib
import pickle
import shutil
import socket
import tarfile
import time
import urllib.error

import pytest
import torch
import torchvision.datasets.utils as tv_utils
from torchvision.datasets import CIFAR10

from visualizer.datasets import (
    CIFAR10_ARCHIVE,
    SHAPES_CLASSES,
    DatasetUnavailableError,
    Normalizer,
    load_cifar10,
    load_shapes,
    make_shapes,
    random_crop_flip,
)

NAMES = ["plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _md5(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def tiny_cifar(tmp_path, monkeypatch):
    """A 5×4 + 6 image CIFAR-10 in the official python format, with torchvision's md5 list pointed at it."""
    folder = tmp_path / "data" / CIFAR10.base_folder
    folder.mkdir(parents=True)
    g = torch.Generator().manual_seed(1)
    written = {}
    train_list, test_list = [], []
    for name, n in [(f"data_batch_{i}", 4) for i in range(1, 6)] + [("test_batch", 6)]:
        images = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g)
        labels = torch.randint(0, 10, (n,), generator=g).tolist()
        # The official rows are 3072 bytes: the red plane, then green, then blue, i.e. CHW flattened.
        with open(folder / name, "wb") as f:
            pickle.dump({"data": images.reshape(n, 3072).numpy(), "labels": labels}, f)
        written[name] = (images, labels)
        (test_list if name == "test_batch" else train_list).append([name, _md5(folder / name)])
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": NAMES}, f)
    monkeypatch.setattr(CIFAR10, "train_list", train_list)
    monkeypatch.setattr(CIFAR10, "test_list", test_list)
    monkeypatch.setattr(CIFAR10, "meta", {**CIFAR10.meta, "md5": _md5(folder / "batches.meta")})
    return tmp_path / "data", written


@pytest.fixture
def offline(monkeypatch):
    def no_network(url, *a, **k):
        raise urllib.error.URLError("network is unreachable")

    def no_route(address, *a, **k):
        raise OSError(101, "Network is unreachable")

    monkeypatch.setattr(socket, "create_connection", no_route)
    monkeypatch.setattr(tv_utils, "_get_redirect_url", no_network)
    monkeypatch.setattr(tv_utils, "_urlretrieve", no_network)


def test_cifar10_reads_the_python_format_into_uint8_nchw(tiny_cifar):
    data_dir, written = tiny_cifar
    train = load_cifar10(data_dir, train=True, download=False)
    expected = torch.cat([written[f"data_batch_{i}"][0] for i in range(1, 6)])
    assert train.images.dtype == torch.uint8 and train.images.shape == (20, 3, 32, 32)
    assert torch.equal(train.images, expected)
    assert train.labels.tolist() == sum((written[f"data_batch_{i}"][1] for i in range(1, 6)), [])
    assert train.class_names == NAMES and not train.synthetic

    test = load_cifar10(data_dir, train=False, download=False)
    assert torch.equal(test.images, written["test_batch"][0])
    assert test.labels.dtype == torch.int64


def test_cifar10_offline_names_the_archive_and_the_dir(tmp_path, offline):
    empty = tmp_path / "nowhere"
    with pytest.raises(DatasetUnavailableError) as err:
        load_cifar10(empty, download=True)
    msg = str(err.value)
    assert CIFAR10_ARCHIVE in msg and str(empty.resolve()) in msg and "unreachable" in msg


def test_cifar10_placed_archive_is_extracted_without_network(tiny_cifar, monkeypatch, offline):
    data_dir, written = tiny_cifar
    archive = data_dir / CIFAR10_ARCHIVE
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(data_dir / CIFAR10.base_folder, arcname=CIFAR10.base_folder)
    shutil.rmtree(data_dir / CIFAR10.base_folder)
    monkeypatch.setattr(CIFAR10, "tgz_md5", _md5(archive))
    test = load_cifar10(data_dir, train=False, download=True)
    assert torch.equal(test.images, written["test_batch"][0])


def test_cifar10_download_reports_progress(tiny_cifar, monkeypatch):
    """torchvision's own download path, with only the network read replaced by a slow local copy."""
    data_dir, written = tiny_cifar
    source = data_dir.parent / "server" / CIFAR10_ARCHIVE
    source.parent.mkdir()
    with tarfile.open(source, "w:gz") as tar:
        tar.add(data_dir / CIFAR10.base_folder, arcname=CIFAR10.base_folder)
    shutil.rmtree(data_dir)
    monkeypatch.setattr(CIFAR10, "tgz_md5", _md5(source))

    class Connection:
        def close(self):
            pass

    def slow_copy(url, filename, chunk_size=1024):
        assert url == CIFAR10.url
        data = source.read_bytes()
        with open(filename, "wb") as f:
            for i in range(0, len(data), len(data) // 4 + 1):
                f.write(data[i : i + len(data) // 4 + 1])
                f.flush()
                time.sleep(0.3)

    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: Connection())
    monkeypatch.setattr(tv_utils, "_get_redirect_url", lambda url, max_hops=3: url)
    monkeypatch.setattr(tv_utils, "_urlretrieve", slow_copy)
    messages = []
    train = load_cifar10(data_dir, train=True, download=True, progress=messages.append)
    assert len(train) == 20 and (data_dir / CIFAR10_ARCHIVE).exists()
    assert messages and all(m.startswith(f"downloading {CIFAR10_ARCHIVE}: ") for m in messages)
    assert messages[-1].endswith("/ 170.5 MB")


def test_shapes_are_deterministic_balanced_and_synthetic():
    a, b, c = make_shapes(200, seed=3), make_shapes(200, seed=3), make_shapes(200, seed=4)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.images, c.images)
    assert a.images.dtype == torch.uint8 and a.images.shape == (200, 3, 32, 32)
    assert torch.bincount(a.labels, minlength=10).tolist() == [20] * 10
    assert a.synthetic and a.class_names == SHAPES_CLASSES and "synthetic" in a.display_name
    train, test = load_shapes(train=True, seed=0, n=100), load_shapes(train=False, seed=0, n=100)
    assert not torch.equal(train.images, test.images)
    # Images are not flat: the shape differs from the background by at least 0.3 in every channel.
    spread = a.images.float().amax(dim=(2, 3)) - a.images.float().amin(dim=(2, 3))
    assert (spread > 0.25 * 255).all()


def test_subset_is_a_seeded_sample_without_repeats():
    data = make_shapes(100, seed=0)
    s1, s2 = data.subset(30, seed=7), data.subset(30, seed=7)
    assert torch.equal(s1.images, s2.images) and len(s1) == 30
    rows = {tuple(img.flatten().tolist()[:64]) for img in s1.images}
    assert len(rows) == 30
    assert data.subset(None, seed=0) is data and data.subset(1000, seed=0) is data


def test_random_crop_flip_is_a_shifted_window_of_the_padded_image():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(1, 256, (64, 3, 8, 8), dtype=torch.uint8, generator=g)
    out = random_crop_flip(images, padding=2, generator=torch.Generator().manual_seed(5))
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2))
    flips = 0
    for i in range(len(images)):
        matches = [
            (dy, dx, flip)
            for dy in range(5)
            for dx in range(5)
            for flip in (False, True)
            if torch.equal(out[i], (lambda w: w.flip(-1) if flip else w)(padded[i, :, dy : dy + 8, dx : dx + 8]))
        ]
        assert matches, f"image {i} is not a crop of its padded original"
        flips += matches[0][2]
    assert 16 <= flips <= 48  # p = 0.5 over 64 images
    assert torch.equal(random_crop_flip(images, padding=0, flip=False), images)


def test_normalizer_matches_the_textbook_formula():
    x = torch.randint(0, 256, (2, 3, 4, 4), dtype=torch.uint8)
    mean, std = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
    expected = (x.float() / 255 - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    torch.testing.assert_close(Normalizer(mean, std)(x), expected)
