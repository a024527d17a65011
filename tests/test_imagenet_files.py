"""ImageNet weights people bring (issue 17): a torchvision .pth uploaded in the Feature-maps tab or found by
--weights-dir is checked against the model, stored once in the torch cache under torchvision's own file name,
and the imagenet weight source then loads exactly those tensors offline. Bad files are one message each."""

from __future__ import annotations

import pytest
import torch
import torchvision
from PIL import Image

import zoo.registry
from visualizer import app_cli, budgets, weight_sources
from visualizer.views import features

RESNET18_FILE = "resnet18-f37072fd.pth"  # the end of torchvision's URL for ResNet18_Weights.IMAGENET1K_V1


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """An empty torch cache in a temp TORCH_HOME and no weights server: the classroom without internet."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def unreachable(url, timeout=0):
        raise OSError(f"no route to {url} (offline)")

    monkeypatch.setattr(zoo.registry, "check_reachable", unreachable)
    weight_sources.clear_cache()
    weight_sources.forget_imagenet()
    yield tmp_path / "torch" / "hub" / "checkpoints"
    weight_sources.clear_cache()
    weight_sources.forget_imagenet()


@pytest.fixture(scope="module")
def fake_resnet18() -> dict[str, torch.Tensor]:
    """torchvision's ResNet-18 state_dict with random values (what a real file holds, shape for shape)."""
    generator = torch.Generator().manual_seed(17)
    return {
        key: torch.randn(value.shape, generator=generator) if value.is_floating_point() else value + 3
        for key, value in torchvision.models.resnet18(weights=None).state_dict().items()
    }


def saved(obj, path) -> str:
    torch.save(obj, path)
    return str(path)


def test_an_uploaded_file_is_stored_under_its_name_and_the_imagenet_source_loads_exactly_it(
    offline, fake_resnet18, tmp_path
):
    image = Image.new("RGB", (64, 64), "orange")
    # Offline, before the file is here: one message naming the file to bring, every panel empty, nothing raised.
    grid, info, seen, cam, top5, overview, filters, rf, state = features.feature_maps_page(
        image, "resnet18", "imagenet"
    )
    assert (grid, seen, cam, overview, filters, rf, state) == (None,) * 7 and top5.empty
    assert RESNET18_FILE in info and "--weights-dir" in info and "offline" in info and '<span class="ko">' in info

    upload = saved(fake_resnet18, tmp_path / "downloaded by the teacher.pth")
    source, message = features.upload_imagenet(upload, "resnet18")
    assert source == "imagenet" and RESNET18_FILE in message and "122 tensors" in message
    stored = offline / RESNET18_FILE
    assert [p.name for p in offline.iterdir()] == [RESNET18_FILE]  # one file, no staging leftovers
    assert stored.read_bytes() == open(upload, "rb").read()  # the file as it came

    loaded = weight_sources.load_weights("resnet18", "imagenet")
    state_dict = loaded.model.state_dict()
    assert state_dict.keys() == fake_resnet18.keys()
    assert all(torch.equal(state_dict[k], fake_resnet18[k]) for k in fake_resnet18)

    # Uploading it again stores nothing new; the feature maps now come from those weights.
    assert "already" in features.upload_imagenet(upload, "resnet18")[1]
    out = features.feature_maps_page(image, "resnet18", "imagenet", layer="layer1.0.conv1")
    assert out[0] is not None and "pretrained weights" in out[1] and out[-1]["model_name"] == "resnet18"

    # Another file for the same weights replaces it, and is other weights: nothing computed from the first is
    # served as if it came from the second.
    other = {k: v + 1 if v.is_floating_point() else v for k, v in fake_resnet18.items()}
    assert "is now in" in features.upload_imagenet(saved(other, tmp_path / "again.pth"), "resnet18")[1]
    again = weight_sources.load_weights("resnet18", "imagenet")
    assert again.key != loaded.key and torch.equal(again.model.fc.bias, other["fc.bias"])
    with pytest.raises(weight_sources.WeightsError, match="weights changed"):
        weight_sources.reload(loaded.key, "resnet18")


def test_a_file_that_does_not_fit_is_refused_with_one_message_and_nothing_is_stored(offline, fake_resnet18, tmp_path):
    renamed = dict(fake_resnet18)
    renamed["head.weight"] = renamed.pop("fc.weight")
    source, message = features.upload_imagenet(saved(renamed, tmp_path / "a.pth"), "resnet18")
    assert source is None and "1 missing, 1 unexpected" in message and "missing fc.weight" in message
    assert "unexpected head.weight" in message and f"upload {RESNET18_FILE}" in message

    ten_classes = {**fake_resnet18, "fc.weight": torch.zeros(10, 512), "fc.bias": torch.zeros(10)}
    source, message = features.upload_imagenet(saved(ten_classes, tmp_path / "b.pth"), "resnet18")
    assert source is None and "2 tensors of the wrong shape" in message
    assert "fc.weight is [10, 512], resnet18 has [1000, 512]" in message

    source, message = features.upload_imagenet(saved(fake_resnet18, tmp_path / "c.pth"), "vgg16")
    assert source is None and "keys of torchvision's vgg16" in message and "vgg16-397923af.pth" in message

    garbage = tmp_path / "d.pth"
    garbage.write_bytes(b"these are lecture notes, not weights" * 100)
    source, message = features.upload_imagenet(str(garbage), "resnet18")
    assert source is None and "not a PyTorch weights file that loads safely" in message

    source, message = features.upload_imagenet(saved([1, 2, 3], tmp_path / "e.pth"), "resnet18")
    assert source is None and "holds a list, not a state_dict" in message

    source, message = features.upload_imagenet(saved(fake_resnet18, tmp_path / "f.pth"), "alexnet_cifar")
    assert source is None and "alexnet_cifar has no ImageNet weights" in message
    assert str(tmp_path) not in message  # the server's paths are never shown
    assert not offline.exists() or list(offline.iterdir()) == []


def test_a_file_over_the_upload_limit_is_refused_from_its_size(offline, tmp_path):
    big = tmp_path / "big.pth"
    big.write_bytes(b"\0" * (2**20 + 1))  # never read: refused before torch.load
    before = budgets.current()
    budgets.configure(max_checkpoint_upload=2**20)
    try:
        source, message = features.upload_imagenet(str(big), "resnet18")
    finally:
        budgets.configure(max_checkpoint_upload=before.max_checkpoint_upload)
    assert source is None and "is 1.0 MiB" in message and "up to 1.0 MiB (--max-checkpoint-upload)" in message


def test_weights_dir_stores_the_good_file_and_lists_each_bad_one(offline, fake_resnet18, tmp_path, capsys):
    folder = tmp_path / "weights"
    folder.mkdir()
    saved(fake_resnet18, folder / RESNET18_FILE)
    (folder / "vgg16-397923af.pth").write_bytes(b"half a download")
    saved(fake_resnet18, folder / "my_resnet.pth")
    (folder / "README.txt").write_text("not a weights file, not looked at")

    stored = app_cli.import_weights_dir(str(folder))
    err = capsys.readouterr().err.strip().splitlines()
    assert stored == [f"{RESNET18_FILE} (ResNet18_Weights.IMAGENET1K_V1)"]
    assert (
        len(err) == 3
        and err[0] == f"ImageNet weights in the torch cache: {RESNET18_FILE} (ResNet18_Weights.IMAGENET1K_V1)"
    )
    assert err[1].startswith("skipped: my_resnet.pth: not the name of ImageNet weights")
    assert err[2].startswith("skipped: vgg16-397923af.pth is not a PyTorch weights file")
    assert [p.name for p in offline.iterdir()] == [RESNET18_FILE]
    loaded = weight_sources.load_weights("resnet18", "imagenet")
    assert torch.equal(loaded.model.conv1.weight, fake_resnet18["conv1.weight"])
    assert app_cli.parse_args(["--weights-dir", str(folder)]).weights_dir == str(folder)
    with pytest.raises(SystemExit):
        app_cli.parse_args(["--weights-dir", str(tmp_path / "missing")])


def test_a_torchvision_classifier_by_its_tv_name_takes_its_file_the_same_way(offline, tmp_path):
    # tv: models load through torchvision's own builder (weights=…), which finds the file in the cache.
    generator = torch.Generator().manual_seed(5)
    state = {
        k: torch.randn(v.shape, generator=generator)
        for k, v in torchvision.models.squeezenet1_1(weights=None).state_dict().items()
    }
    source, message = features.upload_imagenet(saved(state, tmp_path / "squeeze.pth"), "tv:squeezenet1_1")
    assert source == "imagenet" and (offline / "squeezenet1_1-b8a52dc0.pth").is_file()
    loaded = weight_sources.load_weights("tv:squeezenet1_1", "imagenet").model.state_dict()
    assert loaded.keys() == state.keys() and all(torch.equal(loaded[k], state[k]) for k in state)
