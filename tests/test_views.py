"""The page's handlers, called directly as plain functions (no server, no browser)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageFont

from visualizer import background, latest_weights
from visualizer.background import BackgroundTrainer
from visualizer.latest_weights import WeightsRegistry
from visualizer.report import stacks_text
from visualizer.stacks import compare_stacks
from visualizer.views import architecture, compare, features, stacks, training


def conv(cin, cout, k):
    return cin * cout * k * k + cout


def fc(cin, cout):
    return cin * cout + cout


ALEXNET_CONV = conv(3, 64, 11) + conv(64, 192, 5) + conv(192, 384, 3) + conv(384, 256, 3) + conv(256, 256, 3)
ALEXNET_FC = fc(256 * 6 * 6, 4096) + fc(4096, 4096) + fc(4096, 1000)
EN = '<span class="en">'  # where the English half of bilingual text starts


class _NotTheTestsTrainer:
    """Stands in for the process-wide trainer: a view reaching it by a path the test did not patch fails."""

    def __getattr__(self, name):
        raise AssertionError(f"a view read the process-wide trainer's {name!r}, not the one the test gave it")


@pytest.fixture
def app_trainer(monkeypatch):
    """``use(trainer)``: the Training tab's views read ``trainer``, weight loading reads its registry; any other way
    to the process's trainer (``background.get_trainer()``) fails the test."""
    monkeypatch.setattr(background, "_trainer", _NotTheTestsTrainer())

    def use(trainer: BackgroundTrainer) -> BackgroundTrainer:
        monkeypatch.setattr(training, "get_trainer", lambda: trainer)  # the name the Training tab's views call
        monkeypatch.setattr(latest_weights, "REGISTRY", trainer.published)  # what weight loading reads
        return trainer

    return use


@pytest.fixture
def exports_in(tmp_path, monkeypatch):
    """The downloads go under this test's own temp dir (``tempfile.gettempdir()`` is where the server writes)."""
    monkeypatch.setattr(architecture.tempfile, "tempdir", str(tmp_path))
    return tmp_path


def test_a_long_custom_vgg_gets_short_distinct_download_names_and_no_hidden_folders(exports_in):
    long = "vgg:" + ",".join(["128"] * 64)  # 9.4 M parameters; its name is 260 characters
    files = architecture.analyze_view(long, "")[3]
    other = architecture.analyze_view("vgg:" + ",".join(["128"] * 63 + ["64"]), "")[3]
    names = [p.rsplit("/", 1)[1] for p in files]
    assert len(names) == 4 and all(len(n) <= 70 for n in names)
    assert names[0].startswith("vgg_128-128-") and names[0].endswith("_3x32x32.csv")
    assert pd.read_csv(files[0])["Params"].sum() == 3 * 128 * 9 + 128 + 63 * (128 * 128 * 9 + 128) + fc(128, 10)
    assert {p.rsplit("/", 1)[1] for p in other}.isdisjoint(names)  # a digest of the whole name tells them apart
    root = exports_in / next(p.name for p in exports_in.iterdir())
    assert [p.name for p in root.iterdir() if p.name.startswith(".")] == []


def test_a_failed_export_names_no_server_path_and_leaves_nothing(exports_in, monkeypatch):
    def full_disk(a, fold, expanded=(), folder=None):
        raise OSError(28, "No space left on device", f"{folder}/x.svg")

    with monkeypatch.context() as m, pytest.raises(ValueError) as err:
        m.setattr(architecture, "export_diagram", full_disk)
        architecture.analyze_view("vgg11", "3x64x64")
    message = str(err.value)
    assert message == "could not write the download files for vgg11_3x64x64: No space left on device"
    assert str(exports_in) not in message
    root = exports_in / next(p.name for p in exports_in.iterdir())
    assert list(root.iterdir()) == []  # the unfinished (hidden) folder was removed
    files = architecture.analyze_view("vgg11", "3x64x64")[3]  # and the next request is served
    assert len(files) == 4 and all(f.startswith(str(exports_in)) for f in files)


def test_analyze_view_table_and_exports(tmp_path):
    table, totals, diagram_html, files, fold, state, card = architecture.analyze_view("alexnet_cifar", "3x32x32")
    # 13 feature layers + 7 classifier layers, one row each (every leaf call).
    assert len(table) == 20
    hand = (
        conv(3, 64, 3)
        + conv(64, 192, 3)
        + conv(192, 384, 3)
        + conv(384, 256, 3)
        + conv(256, 256, 1)
        + fc(2304, 1024)
        + fc(1024, 512)
        + fc(512, 10)
    )
    assert table["Params"].sum() == hand
    assert f"{hand:,}" in totals
    assert table.iloc[0]["Output shape"] == "64x30x30"  # 3×3 conv without padding: 32 − 2
    csv_path, md_path, svg_path, png_path = files
    assert pd.read_csv(csv_path)["Params"].sum() == hand
    md = open(md_path, encoding="utf-8").read()
    assert md.count("\n|") == len(table) + 2  # header, rule, one line per layer and "features.0" in md
    # The diagram download is the drawing the page shows: every conv and linear layer is a clickable element.
    svg = ET.fromstring(open(svg_path, encoding="utf-8").read())
    drawn = {g.get("data-layer") for g in svg.iter() if g.get("data-layer")}
    assert {
        "features.0",
        "features.3",
        "features.6",
        "features.8",
        "features.10",
        "classifier.1",
        "classifier.4",
        "classifier.6",
    } <= drawn
    assert 'data-layer="features.10"' in diagram_html
    png = Image.open(png_path)
    assert png.width > png.height > 100
    assert fold == "blocks" and state["model"] == "alexnet_cifar" and state["selected"] is None
    assert "Click a box" in card


def test_conv_vs_fc_split_for_alexnet():
    _, totals, *_ = architecture.analyze_view("alexnet", "224")
    assert f"**{ALEXNET_CONV:,}**" in totals and ALEXNET_CONV == 2_469_696
    assert f"**{ALEXNET_FC:,}**" in totals and ALEXNET_FC == 58_631_144
    assert f"{ALEXNET_FC / ALEXNET_CONV:.2f}×" in totals


def test_bars_under_the_diagram_show_vgg16_lesson():
    # Araujo et al. (Distill 2019): VGG-16's last conv-stage field is 212×212 px at 224 input; and the three
    # fully-connected layers hold ~89 % of its 138 M weights.
    _, _, html, *_ = architecture.analyze_view("vgg16", "3x224x224")
    bars = html[html.index('<svg xmlns="http://www.w3.org/2000/svg" class="cnn-bars"') :]
    fields = [int(m) for m in re.findall(r"receptive field (\d+)×\d+", bars)]
    assert max(fields) == 212
    fc_share = (fc(25088, 4096) + fc(4096, 4096) + fc(4096, 1000)) / 138_357_544
    shares = [float(m) for m in re.findall(r"classifier\.\d+ \(fc\): params 파라미터 [\d,]+ = ([\d.]+)%", bars)]
    assert len(shares) == 3 and abs(sum(shares) - 100 * fc_share) < 0.2


def test_a_clicked_layer_gets_its_formulas_with_its_own_numbers():
    *_, state, _ = architecture.analyze_view("vgg16", "3x224x224")
    card, state = architecture.select_view(state, "features.10")
    assert state["selected"] == "features.10"
    # features.10 is the first conv of block 3: 128 → 256 channels, 3×3, on 56×56 (after two 2×2 pools).
    assert f"{conv(128, 256, 3):,}" in card and "128 · 256 · 3 · 3 + 256" in card
    # Receptive field by hand: 3×3 convs add 2·jump, 2×2/2 pools add 1·jump and double it:
    # 3, 5, (pool) 6, 10, 14, (pool) 16, then features.10: 16 + 2·4 = 24 with jump 4.
    assert "16 + (3 − 1)·1·4 = 24" in card
    assert "⌊(56 + 2·1 − 1·(3−1) − 1) / 1⌋ + 1 = 56" in card
    with pytest.raises(ValueError, match="no layer 'features.99'"):
        architecture.select_view(state, "features.99")
    assert architecture.row_key(state, 10) == "features.10"


def test_fold_and_expand_redraw_the_diagram():
    *_, state, _ = architecture.analyze_view("resnet152", "224")
    assert state["fold"] == "stages"  # 150+ boxes would be unreadable: deep models open folded
    html, files, state = architecture.redraw_view(state, None, "layer3.0.conv1")
    assert state["expanded"] == ["layer3.0.conv1"] and html.count('class="skip') == 36
    html, _, state = architecture.redraw_view(state, "blocks")
    assert state["expanded"] == [] and html.count('class="skip') == 50


def test_layer_maps_read_one_forward_pass():
    from visualizer import forward_pass

    forward_pass.clear()
    image = features.example_images()[0]
    grid, overlay, text, click = features.layer_maps(image, "alexnet_cifar", "random", "features.3")
    assert grid is not None and overlay.size[0] >= 224 and "features.3" in text
    run = forward_pass.cached(click["pass"])
    assert (run.full_forwards, run.partial_forwards) == (1, 0)
    features.layer_maps(image, "alexnet_cifar", "random", "features.10")  # captured by the same pass
    assert (run.full_forwards, run.partial_forwards) == (1, 0)
    _, _, text, _ = features.layer_maps(image, "alexnet_cifar", "random", "classifier.1")
    assert "no spatial map" in text
    assert features.layer_maps(None, "alexnet_cifar", "random", "features.3")[0] is None


@pytest.mark.parametrize(
    "model, size, fragment",
    [
        ("vgg16", "3x8x8", "smallest input"),
        ("nope", "224", "valid names"),
        ("vgg:64,q", "32", "token 2 'q'"),
        ("vgg16", "3x0x224", "zero or negative"),
        ("vgg16", "big", "not understood"),
        ("", "224", "no model"),
    ],
)
def test_analyze_view_bad_input_is_one_clear_line(model, size, fragment):
    with pytest.raises(ValueError) as err:
        architecture.analyze_view(model, size)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_empty_size_means_the_design_size():
    table, totals, *_ = architecture.analyze_view("resnet18_cifar", "")
    assert "3×32×32" in totals


@pytest.mark.parametrize("k, n, stack_w, single_w", [(3, 2, 18, 25), (3, 3, 27, 49), (5, 2, 50, 81)])
def test_stacks_view_weights_per_channel_pair(k, n, stack_w, single_w):
    table, summary, chart = stacks.stacks_view(k, n, 64, 64)
    big = n * (k - 1) + 1
    assert list(table["weights per channel pair"]) == [stack_w, single_w] == [n * k * k, big * big]
    assert list(table["parameters"]) == [n * conv(64, 64, k), conv(64, 64, big)]
    assert list(table["receptive field"]) == [f"{big}×{big}"] * 2
    assert list(table["nonlinearities"]) == [n, 1]
    assert f"{stack_w} instead of {single_w}" in summary
    assert list(chart["value"]) == [stack_w, single_w]
    # the lesson's multiply-adds, weights only (textbook): n·k·k·64·64 vs K·K·64·64 per output position
    per_position = [n * k * k * 64 * 64, big * big * 64 * 64]
    assert list(table["MACs per output position (weights only)"]) == per_position
    assert f"{per_position[0]:,} multiply-adds instead of {per_position[1]:,}" in summary


def test_stacks_sentences_count_in_the_singular_when_there_is_one():
    # Issue 17: "1 stacked 7×7 convs … 1 nonlinearities".
    _, one, _ = stacks.stacks_view(7, 1, 64, 64)
    assert "1 nonlinearity instead of 1" in one and "nonlinearities" not in one
    _, two, _ = stacks.stacks_view(3, 2, 64, 64)
    assert "2 nonlinearities instead of 1" in two
    text = stacks_text(compare_stacks(kernel=7, repeat=1))
    assert text.startswith("1 stacked 7×7 conv vs one 7×7 conv") and "has 1 nonlinearity to its 1" in text
    assert stacks_text(compare_stacks(kernel=3, repeat=3)).startswith("3 stacked 3×3 convs vs one 7×7 conv")


def test_stacks_view_rejects_even_kernels():
    with pytest.raises(ValueError, match="odd kernel"):
        stacks.stacks_view(4, 2, 8, 8)


def test_compare_depth_is_the_names_depth_and_says_what_the_shortcuts_add():
    # Issue 17: "depth 21" for ResNet-18 clashed with its name. The name counts the conv and FC layers on the main
    # path; torchvision's ResNet-18 and -50 have 3 and 4 projection shortcuts (a 1×1 conv where a stage changes
    # width), VGG-16 none.
    table, _ = compare.compare_view(["vgg16", "resnet18", "resnet50"], "3x224x224")
    depths = table.set_index("model")[[compare.MAIN_DEPTH, compare.ALL_DEPTH]]
    assert depths.loc["vgg16"].tolist() == [16, 16]
    assert depths.loc["resnet18"].tolist() == [18, 18 + 3]
    assert depths.loc["resnet50"].tolist() == [50, 50 + 4]


def test_compare_view():
    table, chart = compare.compare_view(["alexnet", "resnet18"], "3x224x224")
    assert list(table["model"]) == ["alexnet", "resnet18"]
    assert table.iloc[0]["parameters"] == ALEXNET_CONV + ALEXNET_FC
    assert table.iloc[0][compare.MAIN_DEPTH] == 8 and table.iloc[1][compare.ALL_DEPTH] == 21
    assert list(chart["parameters (M)"]) == [table.iloc[0]["parameters"] / 1e6, 11_689_512 / 1e6]
    with pytest.raises(ValueError, match="at least two"):
        compare.compare_view(["alexnet"], "224")


def test_feature_maps_and_click_to_receptive_field():
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 50, 3), dtype=np.uint8))
    grid, info, seen, cam, top5, overview, filters, rf, state = features.feature_maps(
        image, "alexnet_cifar", "random", None, "features.2", 8, "max", "viridis", "channel", "cat"
    )
    assert len(top5) == 5 and "meaningless" in info
    # What the network sees: its 32×32 input, shown enlarged pixel for pixel (nearest neighbour, 7×).
    assert state["input"].size == (32, 32) and seen.size == (224, 224)
    assert np.array_equal(np.asarray(seen)[::7, ::7], np.asarray(state["input"]))
    assert "Grad-CAM at `features.10`" in info and "cat" in info  # default: the last conv (a 1×1), not the pool
    assert len(state["channels"]) == 8
    # Click inside tile 3 at unit (row 2, col 5) of features.2 (the first max-pool, 15×15 map).
    layout = state["layout"]
    x0, y0 = layout.tile_origin(3)
    overlay, text = features.rf_from_click(state, x0 + 5 * layout.scale + 1, y0 + 2 * layout.scale + 1)
    # Independent geometry: 3×3 conv (no padding) then 2×2 pool stride 2 → field 4, jump 2, unit (y, x) covers
    # input rows 2y..2y+3 and columns 2x..2x+3.
    assert f"Channel {state['channels'][3]}" in text
    assert "rows 4..7, cols 10..13" in text and "receptive field 4×4" in text
    with pytest.raises(ValueError, match="between the maps"):
        features.rf_from_click(state, 0, 0)


def test_gradcam_at_a_chosen_layer():
    image = Image.new("RGB", (32, 32), "blue")
    out = features.feature_maps(image, "alexnet_cifar", cam_layer="features.6", cam_class="3")
    assert "Grad-CAM at `features.6` for **cat**" in out[1]  # CIFAR-10 class 3 is "cat"
    assert out[3].size == out[2].size


def test_unknown_layer_falls_back_and_says_so():
    image = Image.new("RGB", (32, 32), "green")
    out = features.feature_maps(image, "alexnet_cifar", layer="layer4.1.conv2")
    assert "`layer4.1.conv2` is not a layer of alexnet_cifar" in out[1]
    from visualizer.features import default_layer

    assert f"layer `{default_layer('alexnet_cifar')}`" in out[1]  # the model's default layer instead


def test_checkpoint_layers_are_checked_against_the_checkpoint_model(tmp_path, monkeypatch):
    # The picker says vgg16 (whose features.22 exists) but the checkpoint holds alexnet_cifar, which has no
    # features.22: the page falls back to alexnet_cifar's default instead of failing.
    import torch

    import zoo
    from visualizer.checkpoint import make_checkpoint, save_checkpoint

    monkeypatch.setenv("CNNVIZ_RUNS_DIR", str(tmp_path / "runs"))
    model = zoo.create_model("alexnet_cifar")
    path = tmp_path / "runs" / "run1" / "last.pt"
    path.parent.mkdir(parents=True)
    save_checkpoint(
        make_checkpoint(
            model_name="alexnet_cifar",
            class_names=zoo.CIFAR10_CLASSES,
            model=model,
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
            config={},
            epoch=1,
            step=10,
        ),
        path,
    )
    out = features.feature_maps(
        Image.new("RGB", (32, 32), "white"), "vgg16", "checkpoint", str(path), layer="features.22"
    )
    assert "`features.22` is not a layer of alexnet_cifar" in out[1]
    assert out[-1]["model_name"] == "alexnet_cifar" and "meaningless" not in out[1]


def test_checkpoints_outside_the_servers_runs_are_refused_alike(tmp_path, monkeypatch, app_trainer):
    monkeypatch.setenv("CNNVIZ_RUNS_DIR", str(tmp_path / "runs"))
    secret = tmp_path / "secret.pt"
    secret.write_bytes(b"not a checkpoint")
    image = Image.new("RGB", (32, 32), "white")
    messages = set()
    for path in (
        str(secret),
        str(tmp_path / "missing.pt"),
        "/etc/passwd",
        "../../etc/shadow",
        str(tmp_path / "runs" / ".." / "secret.pt"),
    ):
        with pytest.raises(ValueError) as err:
            features.feature_maps(image, "alexnet_cifar", "checkpoint", path)
        messages.add(str(err.value))
    assert len(messages) == 1 and "not one of this server's runs or uploads" in messages.pop()
    app_trainer(BackgroundTrainer())  # no run in progress either: nothing published
    with pytest.raises(ValueError, match="no checkpoint yet"):
        features.feature_maps(image, "alexnet_cifar", "checkpoint", "")


def test_checkpoint_source_follows_the_running_models_latest_weights(tmp_path, app_trainer):
    # "latest" (the picker's first choice) is the training run's weights as of its latest snapshot: the maps
    # come from exactly those weights (compared with the run's own final checkpoint, written on finish).
    import torch

    from visualizer.checkpoint import load_checkpoint
    from visualizer.training import TrainConfig

    trainer = app_trainer(BackgroundTrainer(publish_to=WeightsRegistry()))
    trainer.start(
        TrainConfig(
            model="vgg:8,M,16,M",
            dataset="shapes",
            device="cpu",
            epochs=1,
            subset=64,
            test_subset=20,
            batch_size=16,
            out_dir=str(tmp_path / "run"),
        )
    )
    assert trainer.wait(120) and trainer.status()["state"] == "finished"
    image = Image.new("RGB", (32, 32), "white")
    out = features.feature_maps(image, "vgg16", "checkpoint", features.LATEST, layer="features.0")
    assert "the training run's latest weights (epoch 1 done" in out[1] and out[-1]["model_name"] == "vgg:8,M,16,M"
    from visualizer import forward_pass, weight_sources

    loaded = weight_sources.load_weights("vgg:8,M,16,M", "training")
    final = load_checkpoint(trainer.status()["last_checkpoint"])["model"]
    assert all(torch.equal(v, final[k]) for k, v in loaded.model.state_dict().items())
    assert forward_pass.cached(out[-1]["pass"]).key[0] == loaded.key


def test_feature_maps_without_image_says_what_to_do():
    with pytest.raises(ValueError, match="upload"):
        features.feature_maps(None, "vgg16")


def test_unknown_class_for_gradcam():
    image = Image.new("RGB", (32, 32), "red")
    with pytest.raises(ValueError, match="no class named like"):
        features.feature_maps(image, "alexnet_cifar", cam_class="zebra")


def test_confusion_matrix_names_every_class_in_full():
    # Issue 17: the columns' names were cut to 6 letters ("triang", "diamon"). The ink of each name, measured in the
    # image, is as long as the whole name set in the same font (the rows' names left, the columns' upright above).
    names = ["circle", "triangle", "diamond", "crescent"]
    cm = [[5, 1, 0, 0], [0, 6, 0, 1], [2, 0, 4, 0], [0, 0, 1, 7]]
    cell = 34
    image = training.confusion_image({"class_names": names, "confusion_matrix": cm}, cell=cell)
    ink = np.asarray(image.convert("L")) < 128
    top = image.height - len(names) * cell - 4  # the grid starts below the column names, right of the row names
    left = image.width - len(names) * cell - 4
    font = ImageFont.load_default(size=11)
    for i, name in enumerate(names):
        rows = np.flatnonzero(ink[:top, left + i * cell : left + (i + 1) * cell].any(axis=1))
        cols = np.flatnonzero(ink[top + i * cell : top + (i + 1) * cell, :left].any(axis=0))
        assert abs((rows[-1] - rows[0] + 1) - font.getlength(name)) <= 3, name
        assert abs((cols[-1] - cols[0] + 1) - font.getlength(name)) <= 3, name


def test_training_config_messages():
    with pytest.raises(ValueError, match="Epochs must be from 1"):
        training.make_config("alexnet_cifar", "shapes", epochs=0)
    with pytest.raises(ValueError, match="Batch size is empty"):
        training.make_config("alexnet_cifar", "shapes", batch_size=None)
    with pytest.raises(ValueError, match="whole number"):
        training.make_config("alexnet_cifar", "shapes", epochs=2.5)
    with pytest.raises(ValueError, match="valid names"):
        training.make_config("resnet9000", "shapes")
    config = training.make_config("alexnet_cifar", "shapes", subset=0)
    assert config.subset is None and config.epochs == 3


def test_training_curves_and_final_views():
    metrics = {
        "steps": [{"epoch": 1, "step": 10, "loss": 2.0, "acc": 0.25, "lr": 1e-3, "images_per_sec": 100.0}],
        "epochs": [{"epoch": 1, "step": 20, "test_loss": 1.5, "test_acc": 0.5, "train_loss": 1.8, "train_acc": 0.3}],
        "final": {"class_names": ["a", "b"], "confusion_matrix": [[3, 1], [0, 4]], "per_class_acc": [0.75, 1.0]},
    }
    loss, acc = training.curves(metrics)
    assert list(loss["series"]) == ["train", "test"] and list(acc["value"]) == [25.0, 50.0]
    image = training.confusion_image(metrics["final"])
    assert image.width > 2 * 34 and image.height > 2 * 34
    table = training.per_class_table(metrics["final"])
    assert list(table["accuracy (%)"]) == [75.0, 100.0]
    line = training.progress_line(
        {
            "state": "running",
            "model": "m",
            "dataset": "shapes",
            "synthetic": True,
            "epoch": 1,
            "epochs": 3,
            "step": 20,
            "total_steps": 60,
            "images_per_sec": 250.0,
            "elapsed_s": 65,
            "eta_s": 130,
        },
        metrics["epochs"][-1],
    )
    assert "epoch 1/3" in line and "step 20/60" in line and "250 images/s" in line and "ETA 2:10" in line
    assert "synthetic" in line and "test accuracy 50.0% after epoch 1" in line


def test_torchvision_models_in_the_architecture_and_compare_tabs():
    table, totals, *_ = architecture.analyze_view("tv:mobilenet_v2", "")
    assert "3×224×224" in totals and "MobileNetV2" in totals
    # stem + first block (depthwise, project) + 16 blocks of expand/depthwise/project + the last 1×1 conv
    assert (table["Type"] == "Conv2d").sum() == 1 + 2 + 16 * 3 + 1
    assert architecture.design_size("tv:efficientnet_b3") == "3x300x300"
    table, chart = compare.compare_view(["vgg16", "tv:mobilenet_v2"], "3x224x224")
    assert list(table["model"]) == ["vgg16", "tv:mobilenet_v2"]
    assert table.iloc[1]["parameters"] == 3_504_872  # torchvision's MobileNet_V2_Weights metadata
    # depthwise separable convs: ~50× fewer weights-only multiply-adds than VGG-16
    assert table.iloc[0]["MACs (weights only)"] > 40 * table.iloc[1]["MACs (weights only)"]


def test_train_snapshot_before_any_run_says_what_to_do(app_trainer):
    app_trainer(BackgroundTrainer())
    with pytest.raises(ValueError, match="No training run yet: start one"):
        training.train_snapshot()
    caption, filters, maps, top3, choices, value, state = training.snapshot_panel(training.LIVE)
    assert caption == training.t(training.NO_RUN_YET, training.NO_RUN_YET_KO) and (filters, maps, top3) == (
        None,
        None,
        None,
    )
    assert choices == [("live", "live")] and value == "live"
    assert training.snapshot_panel(training.LIVE, state) is None  # the page shows that already: nothing drawn


def test_snapshot_panel_shows_the_run_and_its_epochs(app_trainer, tmp_path):
    from visualizer.training import TrainConfig

    trainer = app_trainer(BackgroundTrainer())
    trainer.start(
        TrainConfig(
            model="vgg_bn:16,M,32,M,64,M",
            dataset="shapes",
            device="cpu",
            epochs=2,
            subset=64,
            test_subset=50,
            batch_size=32,
            out_dir=str(tmp_path / "run"),
        )
    )
    assert trainer.wait(timeout=120)
    caption, filters, maps, top3 = training.train_snapshot()
    latest = trainer.snapshot()
    assert caption.startswith(EN + "**vgg_bn:16,M,32,M,64,M after epoch 2/2, step 4** · probe:")
    assert f"a test image of a **{latest.probe.class_name}**" in caption
    assert top3 == dict(latest.top(3)) and len(top3) == 3 and sum(top3.values()) <= 1 + 1e-6
    # 16 filters of 3×3 in 4×4, each 24 px (scale 8) + 2 px gaps, now and their change since the start, labelled
    assert filters.size == (2 + 4 * 26, 2 * (22 + 2 + 4 * 26))

    *_, choices, value, state = training.snapshot_panel(training.LIVE)
    assert choices == [("live", "live"), ("0", "0"), ("1", "2"), ("2", "4")] and value == "live"
    start_caption, *_, value, _ = training.snapshot_panel("0")  # the value of a kept snapshot is its step
    assert "before training (random weights), step 0" in start_caption and "chance" in start_caption and value == "0"
    assert training.snapshot_panel("12345")[-2] == "live"  # a step of an earlier run: back to live


def test_a_run_whose_snapshots_fail_says_so_and_still_trains(monkeypatch, tmp_path, app_trainer):
    import visualizer.snapshots as snapshots
    from visualizer.training import TrainConfig

    def broken(*args, **kwargs):
        raise RuntimeError("no hooks today")

    monkeypatch.setattr(snapshots, "FeatureCapture", broken)
    trainer = app_trainer(BackgroundTrainer())
    trainer.start(
        TrainConfig(
            model="vgg_bn:16,M,32,M,64,M",
            dataset="shapes",
            device="cpu",
            epochs=1,
            subset=64,
            test_subset=50,
            batch_size=32,
            out_dir=str(tmp_path / "run"),
        )
    )
    assert trainer.wait(timeout=120) and trainer.status()["state"] == "finished"
    with pytest.raises(ValueError, match=r"no pictures of the network: taking one failed \(RuntimeError: no hooks"):
        training.train_snapshot()
    caption, filters, *_ = training.snapshot_panel(training.LIVE)
    assert caption.startswith("⚠️ " + EN + "No more pictures of the network") and filters is None


# ------------------------------------------------------------------ the page in one language at a time (issue 17)
HANGUL = re.compile(r"[\uac00-\ud7a3]")


def test_layer_table_headers_in_korean_keep_the_numbers():
    en = architecture.layer_table(architecture.run("alexnet_cifar", "3x32x32"))
    ko = architecture.layer_table(architecture.run("alexnet_cifar", "3x32x32"), "ko-KR")
    assert list(ko.columns)[:4] == ["#", "층", "종류", "출력 모양"] and "수용 영역" in ko.columns
    assert list(ko.columns)[-7:] == [
        "파라미터",
        "파라미터 %",
        "MAC (torchinfo)",
        "MAC (가중치만)",
        "출력 KiB",
        "수용 영역",
        "점프",
    ]
    hand = conv(3, 64, 3) + conv(64, 192, 3) + conv(192, 384, 3) + conv(384, 256, 3) + conv(256, 256, 1)
    assert ko["파라미터"].sum() == en["Params"].sum() == hand + fc(2304, 1024) + fc(1024, 512) + fc(512, 10)
    assert ko.shape == en.shape and list(ko["층"]) == list(en["Layer"])
    # The downloads keep the English headers (scripts read them): the CSV written for the page's table.
    *_, files, _fold, _state, _card = architecture.analyze_view("alexnet_cifar", "3x32x32", lang="ko")
    assert "Params" in pd.read_csv(files[0]).columns


def test_fold_choices_one_language_each():
    assert architecture.fold_choices("en") == [("every layer", "none"), ("conv blocks", "blocks"), ("stages", "stages")]
    assert [label for label, _ in architecture.fold_choices("ko")] == ["모든 층", "합성곱 블록", "단계"]


def test_totals_carry_both_languages_and_the_korean_description():
    totals = architecture.totals_markdown(architecture.run("vgg16", "3x224x224"))
    assert '<span class="ko">파라미터</span>' in totals and '<span class="en">parameters</span>' in totals
    assert "3×3 합성곱을 쌓은 구조" in totals  # the zoo's Korean description, next to the English one
    assert f"파라미터 **{fc(25088, 4096) + fc(4096, 4096) + fc(4096, 1000):,}**개" in totals


def test_stacks_in_korean():
    table, summary, chart = stacks.stacks_view(3, 2, 64, 64, "ko")
    assert list(table["채널 쌍당 가중치"]) == [18, 25] and list(table["설계"]) == ["3×3 합성곱 2개", "5×5 합성곱 1개"]
    assert "**3×3 합성곱 2개**는 **5×5 합성곱 1개**와 같은 5×5 영역" in summary
    assert "25개 대신 18개" in summary and f"{conv(64, 64, 5) / (2 * conv(64, 64, 3)):.2f}배" in summary
    assert list(chart["design"]) == ["3×3 합성곱 2개", "5×5 합성곱 1개"] and set(chart["measure"]) == {
        "채널 쌍당 가중치 수"
    }
    assert not re.search(r"[A-Za-z]{3,} [A-Za-z]{3,} [A-Za-z]{3,}", summary)


def test_compare_headers_in_korean():
    table, chart = compare.compare_view(["alexnet", "resnet18"], "3x224x224", "ko")
    assert (
        table.iloc[0]["파라미터"] == ALEXNET_CONV + ALEXNET_FC and "깊이 (합성곱 + 완전연결, 주 경로)" in table.columns
    )
    assert list(chart.columns) == ["model", "parameters (M)", "MACs (G)", "activations (MiB)"]  # the plots' own names
    assert compare.chart_title("MACs (G)", "ko") == "MAC (G)" and compare.chart_title("MACs (G)", "en") == "MACs (G)"


def test_feature_maps_info_in_both_languages_and_the_top5_in_the_pages():
    image = Image.new("RGB", (32, 32), "blue")
    out = features.feature_maps(image, "alexnet_cifar", "random", lang="ko")
    info, top5, state = out[1], out[4], out[-1]
    assert list(top5.columns) == ["클래스", "확률 (%)"] and len(top5) == 5
    assert "무작위 초기화 (시드 0), 학습되지 않음" in info and "의미가 없습니다" in info
    assert "random initialization (seed 0), untrained" in info  # the English half, for the English page
    again = features.top5_table(state["predictions"], "en")
    assert list(again.columns) == ["class", "probability (%)"] and list(again["class"]) == list(top5["클래스"])
    assert features.checkpoint_choices("ko")["choices"][0] == ("학습 중인 모델의 최신 가중치", features.LATEST)


def test_training_status_in_korean():
    assert "아직 학습이 없습니다" in training.progress_line({"state": "idle"})
    status = {
        "state": "running",
        "model": "alexnet_cifar",
        "dataset": "shapes",
        "epoch": 1,
        "epochs": 3,
        "step": 40,
        "total_steps": 120,
        "elapsed_s": 65,
        "eta_s": 130,
        "message": "evaluating epoch 2",
    }
    line = training.progress_line(status)
    assert "<b>실행 중</b> · shapes에서 alexnet_cifar · 에폭 1/3 · 단계 40/120 · 경과 1:05 · 남은 시간 2:10" in line
    assert "cores" not in line and "코어" not in line  # a run on all its cores (or in the server's process)
    sharing = training.progress_line({**status, "threads": 1, "cores": 2})  # budgets.cores: the server is busy
    assert "단계 40/120 · 수업의 요청에 답하는 동안 코어 2개 중 1개로 학습 · 경과 1:05" in sharing
    assert "step 40/120 · on 1 of 2 cores while the server answers the class · elapsed 1:05" in sharing
    assert "cores" not in training.progress_line({**status, "threads": 2, "cores": 2})
    assert "cores" not in training.progress_line({**status, "state": "paused", "threads": 1, "cores": 2})
    assert "에폭 2 평가 중" in line and "epoch 1/3" in line
    assert (
        training.message_ko("finished at step 120/120, test accuracy 61.2%")
        == "단계 120/120에서 완료, 테스트 정확도 61.2%"
    )
    assert training.message_ko("paused at step 7") == "단계 7에서 일시 정지"
    assert (training.message_ko("stopped"), training.message_ko("finished")) == ("중지됨", "완료")  # the state alone
    assert training.message_ko("CUDA out of memory") == "CUDA out of memory"  # unknown text stays as it is
    assert list(training.per_class_table(None, "ko").columns) == ["클래스", "정확도 (%)"]
    loss, _ = training.curves({"steps": [{"step": 5, "loss": 2.0, "acc": 0.1}], "epochs": []}, "ko")
    assert list(loss["series"]) == ["학습"]
    assert training.resume_choices("ko")["choices"][0] == ("— 새 학습 —", "")


@pytest.mark.parametrize("epochs", [2.5, "2.5"])
def test_two_and_a_half_epochs_are_refused_not_run_as_two(epochs):
    with pytest.raises(ValueError) as err:
        training.make_config("alexnet_cifar", "shapes", epochs=epochs)
    assert str(err.value) == "Epochs must be a whole number, got 2.5; e.g. 2"
    assert training.make_config("alexnet_cifar", "shapes", epochs=2.0).epochs == 2


def test_the_pages_number_fields_reach_the_handler_unrounded():
    import gradio as gr

    from visualizer.ui.app import build_demo

    numbers = {c.label: c for c in build_demo().blocks.values() if isinstance(c, gr.Number)}
    epochs = next(c for c in numbers.values() if getattr(c.label, "key", c.label) == "epochs")
    assert epochs.preprocess(2.5) == 2.5  # Gradio's precision=0 would hand over round(2.5) = 2
