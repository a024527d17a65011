"""End to end: the real server driven through its public API with gradio_client."""

from __future__ import annotations

import base64
import json
import re
import time
import urllib.error
import urllib.request

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from visualizer.images import example_images

JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def client(server_url):
    return Client(server_url, verbose=False)


def test_endpoints_are_documented(client):
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    for name in (
        "analyze",
        "compare_stacks",
        "feature_maps",
        "train_start",
        "train_pause",
        "train_resume",
        "train_stop",
        "train_status",
        "train_snapshot",
        "compare_models",
        "layer_details",
    ):
        assert f"/{name}" in names


def test_analyze_first_output_is_the_layer_table(client):
    table, totals, *_ = client.predict("resnet18", "3x224x224", api_name="/analyze")
    names = [row[table["headers"].index("Layer")] for row in table["data"]]
    assert names[0] == "conv1" and "layer1.0.conv1" in names
    params = sum(row[table["headers"].index("Params")] for row in table["data"])
    assert params == 11_689_512  # torchvision's published count for ResNet-18
    assert "11,689,512" in totals


def test_analyze_returns_the_diagram_and_layer_details_work_by_name(client, server_url):
    _, _, diagram, files, fold, *_ = client.predict("resnet18", "3x224x224", api_name="/analyze")
    assert fold == "blocks" and diagram.count('class="skip') == 8 and diagram.count('class="skip projection"') == 3
    # The downloads are links to Gradio's file route (ui.downloads), fetched as the page's links are.
    hrefs = re.findall(r'href="(gradio_api/file=[^"]+)"', files)
    assert sorted(h.rsplit(".", 1)[-1] for h in hrefs) == ["csv", "md", "png", "svg"]
    fetched = {}
    for href in hrefs:
        with urllib.request.urlopen(server_url + href, timeout=30) as answer:
            fetched[href.rsplit(".", 1)[-1]] = answer.read()
    assert fetched["csv"].splitlines()[0].startswith(b"#,Layer,Type,Output shape")
    assert b"layer2.0.downsample.0" in fetched["csv"]
    assert fetched["png"][:8] == b"\x89PNG\r\n\x1a\n" and b"<svg" in fetched["svg"][:300]
    assert b"| Layer" in fetched["md"]
    card = client.predict("resnet18", "3x224x224", "layer2.0.downsample.0", api_name="/layer_details")
    assert "64 · 128 · 1 · 1 = 8,192" in card  # a 1×1 projection from 64 to 128 channels, no bias
    with pytest.raises(AppError, match="no layer 'layer9.0'"):
        client.predict("resnet18", "3x224x224", "layer9.0", api_name="/layer_details")


def test_bad_input_is_a_message_and_the_server_keeps_serving(client):
    with pytest.raises(AppError, match="smallest input that works"):
        client.predict("vgg16", "3x16x16", api_name="/analyze")
    with pytest.raises(AppError, match="valid names"):
        client.predict("vgg17", "224", api_name="/analyze")
    table, *_ = client.predict("alexnet_cifar", "32", api_name="/analyze")
    assert len(table["data"]) == 20


def test_compare_stacks(client):
    table, summary, _ = client.predict(3, 3, 64, 64, api_name="/compare_stacks")
    col = table["headers"].index("weights per channel pair")
    assert [row[col] for row in table["data"]] == [27, 49]


def test_feature_maps_from_an_example_image(client):
    out = client.predict(
        handle_file(example_images()[0]),
        "alexnet_cifar",
        "random",
        "",
        "features.5",
        8,
        "mean",
        "magma",
        "shared",
        "",
        "features.8",
        api_name="/feature_maps",
    )
    grid, info = out[0], out[1]
    assert grid and "features.5" in info and "meaningless" in info and "Grad-CAM at `features.8`" in info


def test_uploads_reach_our_image_checks(client, tmp_path):
    # A text file named .png: our message, not a crash inside the upload component.
    fake = tmp_path / "notes.png"
    fake.write_text("these are lecture notes, not a picture")
    with pytest.raises(AppError, match="upload a JPEG, PNG"):
        client.predict(
            handle_file(str(fake)),
            "alexnet_cifar",
            "random",
            "",
            "",
            4,
            "mean",
            "viridis",
            "channel",
            "",
            "",
            api_name="/feature_maps",
        )
    # A 16-bit grayscale PNG (values up to 65535) arrives intact and is shown, not clipped to white.
    import numpy as np
    from PIL import Image

    deep = tmp_path / "deep.png"
    ramp = (np.linspace(0, 65535, 64 * 64).reshape(64, 64)).astype(np.uint16)
    Image.fromarray(ramp).save(deep)
    out = client.predict(
        handle_file(str(deep)),
        "alexnet_cifar",
        "random",
        "",
        "",
        4,
        "mean",
        "viridis",
        "channel",
        "",
        "",
        api_name="/feature_maps",
    )
    seen = np.asarray(Image.open(out[2]).convert("L"), dtype=float)
    assert seen.min() < 40 and seen.max() > 215  # the full ramp survives (clipping would make it ~all white)


def run_feature_maps(server_url: str, photo: object, top_n: object = 4) -> tuple[int, dict]:
    """One ``feature_maps`` request by hand, as any HTTP client may send it (gradio_client would upload a local
    path itself): its status and answer."""
    data = [photo, "alexnet_cifar", "random", "", "", top_n, "mean", "viridis", "channel", "", "", "en"]
    request = urllib.request.Request(
        f"{server_url}gradio_api/run/feature_maps", json.dumps({"data": data}).encode(), JSON
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_a_photo_the_server_was_not_sent_is_refused_and_numbers_are_checked_without_gradios_preprocessing(
    client, server_url
):
    # The feature maps skip Gradio's per-input preprocessing (ui.wire.WIRE). A photo the server was not sent is
    # refused whichever way it is named: Gradio checks a FileData with its meta; an image's data without the meta
    # it skips, so ours does (ui.components.uploaded_file), without repeating the path.
    example = example_images()[0]  # a JPEG the server can read, but not one sent to it
    for photo in (
        {"path": example, "meta": {"_type": "gradio.FileData"}},
        {"path": example},
        {"path": "/etc/passwd"},
        {"path": "../../../../etc/passwd", "orig_name": "cat.jpg"},
    ):
        status, answer = run_feature_maps(server_url, photo)
        assert status == 500, (photo, answer)
        assert "not uploaded" in answer["error"], answer
        if "meta" not in photo:  # ours (Gradio's own repeats the path it was sent)
            assert "passwd" not in answer["error"] and "mpl-data" not in answer["error"]
    # The numbers a slider would have bounded, checked by the handler itself.
    uploaded = {"path": upload(server_url, example), "meta": {"_type": "gradio.FileData"}}
    for top_n, said in ((0, "from 1 to 64, got 0"), (10**9, "from 1 to 64"), ("many", "not a number")):
        status, answer = run_feature_maps(server_url, uploaded, top_n)
        assert status == 500 and "Channels shown" in answer["error"] and said in answer["error"], answer
    status, answer = run_feature_maps(server_url, uploaded, 8)  # still serving; that upload is the server's
    assert status == 200 and "features" in answer["data"][1]
    # A photo sent inline (base64, as an API caller may) is decoded into Gradio's cache, as its own upload does.
    with open(example, "rb") as f:
        inline = "data:image/jpeg;base64," + base64.b64encode(f.read()).decode()
    status, answer = run_feature_maps(server_url, {"url": inline, "orig_name": "photo.jpg"}, 8)
    assert status == 200 and "features" in answer["data"][1], answer


def upload(server_url: str, path: str) -> str:
    """``path`` sent to the server as the page sends a photo; the server's path of its copy."""
    boundary = "cnnvizboundary"
    with open(path, "rb") as f:
        content = f.read()
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="photo.jpg"\r\n\r\n'
    body = head.encode() + content + f"\r\n--{boundary}--\r\n".encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    request = urllib.request.Request(f"{server_url}gradio_api/upload", body, headers)
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.load(answer)[0]


@pytest.mark.slow
def test_training_run_through_the_api(client):
    with pytest.raises(AppError, match="cannot pause"):
        client.predict(api_name="/train_pause")
    with pytest.raises(AppError, match="No training run yet: start one"):
        client.predict(api_name="/train_snapshot")
    client.predict(
        "alexnet_cifar",
        "shapes",
        1,
        50,
        0.001,
        "adam",
        "constant",
        0.0,
        300,
        0,
        True,
        False,
        False,
        "",
        api_name="/train_start",
    )
    with pytest.raises(AppError, match="already"):
        client.predict(
            "alexnet_cifar",
            "shapes",
            1,
            50,
            0.001,
            "adam",
            "constant",
            0.0,
            300,
            0,
            True,
            False,
            False,
            "",
            api_name="/train_start",
        )
    # Bad input while the run is active: a message, and the run goes on undisturbed.
    with pytest.raises(AppError, match="smallest input"):
        client.predict("alexnet", "3x8x8", api_name="/analyze")
    progress, *_ = client.predict(api_name="/train_status")
    assert "running" in progress or "finished" in progress, progress
    deadline = time.monotonic() + 120
    while True:
        progress, loss, acc, *_ = client.predict(api_name="/train_status")
        if "finished" in progress or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert "finished" in progress, progress
    assert loss["data"], "the loss curve has points"
    assert any(row[-1] == "test" for row in acc["data"])
    # The checkpoint is downloadable from the page and loads safely (weights_only) with its metadata.
    from visualizer.checkpoint import load_checkpoint

    _, _, _, confusion, per_class, checkpoint, _ = client.predict(api_name="/train_status")
    # At the end: the confusion matrix (an image) and one accuracy per class of the synthetic set.
    assert confusion and [row[0] for row in per_class["data"]][:3] == ["circle", "square", "triangle"]
    assert len(per_class["data"]) == 10 and all(0 <= row[1] <= 100 for row in per_class["data"])
    ckpt = load_checkpoint(checkpoint)
    assert ckpt["model_name"] == "alexnet_cifar" and ckpt["epoch"] == 1

    # The network as it ended: its first-layer filters (64 of 3×3, 8×8 patches of 24 px; now and their change since
    # the start), the probe's maps, top-3.
    from PIL import Image

    caption, filters, maps, top3 = client.predict(api_name="/train_snapshot")
    assert caption.startswith(f'<span class="en">**alexnet_cifar after epoch 1/1, step {ckpt["step"]}**')  # then ko
    assert Image.open(filters).size == (2 + 8 * 26, 2 * (22 + 2 + 8 * 26)) and Image.open(maps).width > 6 * 96
    assert len(top3["confidences"]) == 3 and top3["label"] in ckpt["class_names"]


def test_requests_over_the_servers_budgets_are_refused_and_it_keeps_serving(client):
    # A custom VGG of ~302 M parameters (4096-wide 3×3 convs): refused from its size, before it is built.
    params = 3 * 4096 * 9 + 4096 + 2 * (4096 * 4096 * 9 + 4096) + 4096 * 10 + 10
    with pytest.raises(AppError, match=rf"{params / 1e6:,.1f} M parameters .* limit of 200 M \(--max-params\)"):
        client.predict(
            handle_file(example_images()[0]),
            "vgg:4096,M,4096,M,4096,M",
            "random",
            "",
            "",
            8,
            "mean",
            "viridis",
            "channel",
            "",
            "",
            api_name="/feature_maps",
        )
    # A training run whose batch would not fit the memory budget: refused, with the batch size that would.
    with pytest.raises(AppError, match=r"a batch of 8,192.*--max-train-memory.*at most [\d,]+"):
        client.predict(
            "alexnet_cifar",
            "shapes",
            2,
            8192,
            1e-3,
            "adam",
            "constant",
            0.0,
            400_000,
            0,
            False,
            False,
            False,
            "",
            api_name="/train_start",
        )
    # Paths outside the server's runs: one message, whether or not the file exists.
    messages = set()
    for path in ("/etc/passwd", "/root/.ssh/id_rsa", "/nonexistent/x.pt", "../../etc/shadow"):
        with pytest.raises(AppError) as err:
            client.predict(
                handle_file(example_images()[0]),
                "alexnet_cifar",
                "checkpoint",
                path,
                "",
                8,
                "mean",
                "viridis",
                "channel",
                "",
                "",
                api_name="/feature_maps",
            )
        messages.add(str(err.value))
    assert len(messages) == 1 and "not one of this server's runs or uploads" in messages.pop()
    with pytest.raises(AppError, match="not one of this server's runs or uploads"):
        client.predict(
            "alexnet_cifar",
            "shapes",
            1,
            16,
            1e-3,
            "adam",
            "constant",
            0.0,
            64,
            0,
            False,
            False,
            False,
            "/etc/passwd",
            api_name="/train_start",
        )
    table, *_ = client.predict("alexnet_cifar", "32", api_name="/analyze")  # still serving
    assert len(table["data"]) == 20
