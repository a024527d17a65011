"""The architecture diagram (``visualizer/diagram/``): its SVG markup checked against the analysis records and
against torchvision's own modules (``torch.fx`` for the shortcuts), the PNG export, the per-layer bars aligned
under it, and ``python -m visualizer diagram``.

Expected values come from the models themselves (module lists, parameter tensors, the forward graph), never
from the diagram code, so a drawing that drops a shortcut or mislabels a box fails here.
"""

from __future__ import annotations

import operator
import re
import xml.etree.ElementTree as ET
from collections import Counter
from functools import cache

import pytest
import torch
import torchvision
from PIL import Image
from torch import nn

import zoo
from visualizer import cli
from visualizer.analysis import analyze, analyze_model
from visualizer.diagram import build, render_png, render_svg
from visualizer.diagram.bars import render_bars_svg
from visualizer.diagram.scene import FIT_WIDTH

NS = "{http://www.w3.org/2000/svg}"
CUSTOM = ["vgg:64,M,128", "vgg_bn:16,M,32"]
ALL_MODELS = zoo.list_models() + CUSTOM


# ---------------------------------------------------------------------------------------------- helpers


@cache
def _analysis(name: str):
    return analyze_model(name)  # design size


@cache
def _svg(name: str, fold: str = "blocks", expanded: tuple[str, ...] = (), selected: str | None = None) -> str:
    return render_svg(_analysis(name), fold, expanded, selected)


def _groups(svg: str) -> list[ET.Element]:
    return list(ET.fromstring(svg).iter(NS + "g"))


def _cls(g: ET.Element) -> set[str]:
    return set((g.get("class") or "").split())


def _layer_elements(svg: str) -> list[ET.Element]:
    return [g for g in _groups(svg) if g.get("data-layer") is not None]


def _main_row(svg: str) -> list[ET.Element]:
    """The boxes on the main row, left to right (not a stage's per-conv ticks, not the tags on shortcut arcs);
    a folded stage's box carries ``data-first`` (the layer a click on it selects) instead of a data-layer."""
    return [
        g
        for g in _groups(svg)
        if "stage" in _cls(g)
        or (g.get("data-layer") is not None and not _cls(g) & {"tick", "shortcut", "shortcut-extra"})
    ]


def _key(g: ET.Element) -> str:
    return g.get("data-layer") or g.get("data-first")


def _skips(svg: str) -> list[ET.Element]:
    return [g for g in _groups(svg) if "skip" in _cls(g)]


def _shape(record) -> str:
    return "x".join(str(d) for d in record.output_shape[1:])


def _points(poly: ET.Element) -> list[tuple[float, float]]:
    return [tuple(float(v) for v in p.split(",")) for p in poly.get("points").split()]


def _face(g: ET.Element) -> list[tuple[float, float]]:
    """The front face of a box (the last one drawn in its group: a stage draws its stack back to front)."""
    return _points([p for p in g.iter(NS + "polygon") if p.get("class") == "face"][-1])


def _x_extent(g: ET.Element) -> tuple[float, float]:
    xs = [x for p in g.iter(NS + "polygon") for x, _ in _points(p)]
    xs += [float(c.get("cx")) + s * float(c.get("r")) for c in g.iter(NS + "circle") for s in (-1, 1)]
    return min(xs), max(xs)


def _view_box(svg: str) -> tuple[float, float]:
    _, _, w, h = (float(v) for v in ET.fromstring(svg).get("viewBox").split())
    return w, h


def _meta(builder, *args, **kwargs) -> nn.Module:
    with torch.device("meta"):
        return builder(*args, **kwargs)


def _fx_shortcuts(model: nn.Module) -> list[tuple[str, str, bool]]:
    """Every residual ``+`` in the model's traced forward, in call order, as (where it forks, what reads the sum,
    projection?).

    Keys follow the records' convention: the module's qualified name, ``#k`` on its k-th call (torchvision's
    BasicBlock calls ``self.relu`` twice, the second call reads the sum). The shortcut operand is either a call
    into a ``downsample`` / ``shortcut`` submodule (a projection: walk back through it to the fork) or the block
    input itself, an ancestor of the other operand (an identity; an empty ``nn.Sequential`` traces to nothing).
    """
    graph = torch.fx.symbolic_trace(model).graph
    calls, key = Counter(), {}
    for node in graph.nodes:
        if node.op == "call_module":
            key[node] = node.target + (f"#{calls[node.target]}" if calls[node.target] else "")
            calls[node.target] += 1

    def on_shortcut(n: torch.fx.Node) -> bool:
        return n.op == "call_module" and (".downsample." in n.target or ".shortcut." in n.target)

    def ancestors(n: torch.fx.Node) -> set[torch.fx.Node]:
        seen, todo = set(), [n]
        while todo:
            for p in todo.pop().all_input_nodes:
                if p not in seen:
                    seen.add(p)
                    todo.append(p)
        return seen

    out = []
    for node in graph.nodes:
        if node.op != "call_function" or node.target not in (operator.add, operator.iadd, torch.add):
            continue
        a, b = (x for x in node.args if isinstance(x, torch.fx.Node))
        projected = [x for x in (a, b) if on_shortcut(x)]
        if projected:
            fork = projected[0]
            while on_shortcut(fork):
                fork = fork.args[0]
        else:
            fork = a if a in ancestors(b) else b
            assert fork in ancestors(a if fork is b else b), "an add that is not a residual sum"
        (reader,) = node.users
        out.append((key[fork], key[reader], bool(projected)))
    return out


def _svg_shortcuts(svg: str) -> set[tuple[str, str, bool]]:
    return {(g.get("data-from"), g.get("data-to"), "projection" in _cls(g)) for g in _skips(svg)}


# ---------------------------------------------------------------------------------------------- markup


@pytest.mark.parametrize("name", ALL_MODELS)
def test_svg_parses_and_names_every_layer(name):
    a = _analysis(name)
    keys = {r.key for r in a.layers}
    convs_and_fcs = {r.key for r in a.layers if r.type in ("Conv2d", "Linear")}
    assert convs_and_fcs  # every zoo model has both
    # every layer drawn, each exactly once
    every = [g.get("data-layer") for g in _layer_elements(_svg(name, "none"))]
    assert set(every) == keys and len(every) == len(keys)
    for fold in ("blocks", "stages"):
        drawn = {g.get("data-layer") for g in _layer_elements(_svg(name, fold))}
        assert convs_and_fcs <= drawn <= keys, fold


@pytest.mark.parametrize("name", ALL_MODELS)
def test_data_shape_is_the_output_of_the_named_layer(name):
    """A layer box (with its folded BN / ReLU / dropout), a ⊕ (named by the ReLU that reads it), a stage's
    per-conv tick and a shortcut's tag show the output of the record their ``data-layer`` names."""
    a = _analysis(name)
    for fold in ("none", "blocks", "stages"):
        for g in _layer_elements(_svg(name, fold)):
            if "stage" in _cls(g):
                continue  # a folded stage shows the stage's output: next test
            assert g.get("data-shape") == _shape(a.by_key(g.get("data-layer"))), (fold, g.attrib)
            for k in (g.get("data-folded") or "").split():
                a.by_key(k)  # real keys


@pytest.mark.parametrize("name", ["vgg16", "resnet18", "resnet50", "resnet152", "resnet18_cifar"])
def test_a_folded_stage_shows_the_output_of_its_last_layer(name):
    """What scene.py promises for a stage box: the shape of its last unit's output, i.e. of the last record
    called before the next box on the row starts."""
    a = _analysis(name)
    row = _main_row(_svg(name, "stages"))
    stages = [i for i, g in enumerate(row) if "stage" in _cls(g)]
    assert len(stages) >= 2
    for i in stages:
        nxt = a.by_key(_key(row[i + 1]))
        assert row[i].get("data-shape") == _shape(a.layers[nxt.index - 1])


def test_in_stages_every_data_layer_is_unique_and_shows_its_records_shape():
    a = _analysis("resnet50")
    elements = _layer_elements(_svg("resnet50", "stages"))
    twice = [k for k, n in Counter(g.get("data-layer") for g in elements).items() if n > 1]
    other_shape = [
        (g.get("data-layer"), g.get("data-shape"))
        for g in elements
        if g.get("data-shape") != _shape(a.by_key(g.get("data-layer")))
    ]
    assert (twice, other_shape) == ([], [])
    # Each stage box names the layer a click selects and every layer it holds.
    stages = [g for g in _groups(_svg("resnet50", "stages")) if "stage" in _cls(g)]
    assert [g.get("data-count") for g in stages] == ["3", "4", "6", "3"]
    for g in stages:
        held = g.get("data-keys").split()
        assert g.get("data-first") == held[0] and all(a.by_key(k) for k in held)


# ---------------------------------------------------------------------------------------------- shortcuts


@pytest.mark.parametrize(
    "name, builder, total, projections",
    [
        ("resnet18", torchvision.models.resnet18, 8, 3),
        ("resnet50", torchvision.models.resnet50, 16, 4),
        ("resnet18_cifar", lambda: zoo.create_model("resnet18_cifar"), 8, 3),
        ("vgg16", torchvision.models.vgg16, 0, 0),
        ("alexnet", torchvision.models.alexnet, 0, 0),
        ("alexnet_cifar", lambda: zoo.create_model("alexnet_cifar"), 0, 0),
    ],
)
def test_shortcuts_are_the_models_residual_adds(name, builder, total, projections):
    truth = set(_fx_shortcuts(_meta(builder)))
    assert (len(truth), sum(p for *_, p in truth)) == (total, projections)  # the counts
    for fold in ("none", "blocks"):  # both draw every residual block
        svg = _svg(name, fold)
        skips = _skips(svg)
        assert len(skips) == total and sum("projection" in _cls(g) for g in skips) == projections
        assert _svg_shortcuts(svg) == truth


def test_resnet18_first_shortcut_leaves_the_maxpool_and_joins_before_the_blocks_second_relu():
    # torchvision: x = self.maxpool(x); x = self.layer1(x); BasicBlock: identity = x; ...; out += identity;
    # out = self.relu(out), the block's second call of its one ReLU.
    a = _analysis("resnet18")
    first = min(_skips(_svg("resnet18")), key=lambda g: a.by_key(g.get("data-to")).index)
    fork, reader, projection = _fx_shortcuts(_meta(torchvision.models.resnet18))[0]
    assert (fork, reader, projection) == ("maxpool", "layer1.0.relu#1", False)
    assert (first.get("data-from"), first.get("data-to"), "projection" in _cls(first)) == (fork, reader, projection)


def test_projection_shortcuts_are_dashed_and_labelled_with_their_conv():
    model = _meta(torchvision.models.resnet18)
    svg = _svg("resnet18")
    groups = _groups(svg)
    for g in _skips(svg):
        dashed = any(p.get("stroke-dasharray") for p in g.iter(NS + "path"))
        assert dashed == ("projection" in _cls(g))
    for stage in (model.layer2, model.layer3, model.layer4):
        conv = stage[0].downsample[0]
        name = next(n for n, m in model.named_modules() if m is conv)
        (tag,) = [g for g in groups if g.get("data-layer") == name]
        label = f"{conv.kernel_size[0]}×{conv.kernel_size[1]}, /{conv.stride[0]}"
        assert "".join(tag.itertext()).endswith(label) and label == "1×1, /2"


# ---------------------------------------------------------------------------------------------- boxes


def test_vgg16_boxes_shrink_in_height_and_grow_in_thickness_along_the_convs():
    # Ground truth from torchvision's config "D": 3×3 convs keep H (padding 1), each "M" halves it.
    h, expected = 224, []
    for v in torchvision.models.vgg.cfgs["D"]:
        if v == "M":
            h //= 2
        else:
            expected.append((h, v))
    a = _analysis("vgg16")
    convs = sorted(
        (g for g in _main_row(_svg("vgg16")) if "conv" in _cls(g)), key=lambda g: a.by_key(g.get("data-layer")).index
    )
    assert [tuple(int(d) for d in g.get("data-shape").split("x")[1::-1]) for g in convs] == expected
    faces = [_face(g) for g in convs]
    heights = [max(y for _, y in f) - min(y for _, y in f) for f in faces]
    widths = [max(x for x, _ in f) - min(x for x, _ in f) for f in faces]
    eps = 0.11  # coordinates are written to 0.1 px
    for i in range(1, len(convs)):
        (h0, c0), (h1, c1) = expected[i - 1], expected[i]
        assert heights[i] < heights[i - 1] - eps if h1 < h0 else heights[i] == pytest.approx(heights[i - 1], abs=eps)
        assert widths[i] > widths[i - 1] + eps if c1 > c0 else widths[i] == pytest.approx(widths[i - 1], abs=eps)


def test_resnet152_stages_fold_to_counts_and_one_opens_with_its_shortcuts():
    model = _meta(torchvision.models.resnet152)
    blocks = [len(model.layer1), len(model.layer2), len(model.layer3), len(model.layer4)]
    assert blocks == [3, 8, 36, 3]
    svg = _svg("resnet152", "stages")
    stages = [g for g in _groups(svg) if "stage" in _cls(g)]
    assert [int(g.get("data-count")) for g in stages] == blocks
    assert _skips(svg) == []  # every block folded: no arc drawn

    third = stages[2].get("data-stage")
    opened = _svg("resnet152", "stages", (third,))
    assert [int(g.get("data-count")) for g in _groups(opened) if "stage" in _cls(g)] == blocks[:2] + blocks[3:]
    truth = {s for s in _fx_shortcuts(model) if s[1].startswith("layer3.")}
    assert len(truth) == blocks[2]
    assert sum(p for *_, p in truth) == sum(b.downsample is not None for b in model.layer3) == 1
    assert _svg_shortcuts(opened) == truth
    assert {g.get("data-layer") for g in _main_row(opened)} >= {f"layer3.{i}.conv3" for i in range(blocks[2])}


@pytest.mark.parametrize(
    "name, fold",
    [
        ("vgg16", "none"),
        ("vgg16", "blocks"),
        ("resnet18", "blocks"),
        ("resnet18", "none"),
        ("resnet18", "stages"),
    ],
)
def test_selected_marks_exactly_the_element_of_that_layer(name, fold):
    svg = _svg(name, fold)
    keys = [g.get("data-layer") for g in _layer_elements(svg)]
    for key in dict.fromkeys(keys):
        marked = [g for g in _groups(_svg(name, fold, selected=key)) if "selected" in _cls(g)]
        assert [g.get("data-layer") for g in marked] == [key], key
    assert not [g for g in _groups(svg) if "selected" in _cls(g)]


def test_selecting_a_folded_layer_marks_the_box_that_holds_it():
    svg = _svg("resnet18", "blocks")
    for g in _layer_elements(svg):
        for key in (g.get("data-folded") or "").split():
            marked = [m for m in _groups(_svg("resnet18", "blocks", selected=key)) if "selected" in _cls(m)]
            assert [m.get("data-layer") for m in marked] == [g.get("data-layer")], key


# ---------------------------------------------------------------------------------------------- PNG


@pytest.mark.parametrize(
    "name, fold, scale", [("resnet18", "blocks", 2.0), ("vgg16", "none", 1.5), ("resnet152", "stages", 1.0)]
)
def test_png_is_the_same_picture_at_scale(name, fold, scale):
    svg = _svg(name, fold)
    img = render_png(_analysis(name), fold, scale=scale)
    assert img.mode == "RGB"
    w, h = _view_box(svg)  # the viewBox is written to 0.1 px, the image rounded to whole pixels
    assert abs(img.width - w * scale) <= 0.5 + 0.05 * scale and abs(img.height - h * scale) <= 0.5 + 0.05 * scale
    assert len(img.getcolors(img.width * img.height)) > 20  # not blank
    fronts = [g for g in _main_row(svg) if "join" not in _cls(g)]  # every box but the ⊕ circles
    assert len(fronts) >= 8
    for g in fronts:  # each box's front face is painted in the SVG's colour at its centre
        face = _face(g)
        cx, cy = sum(x for x, _ in face) / 4, sum(y for _, y in face) / 4
        fill = next(p for p in reversed(list(g.iter(NS + "polygon"))) if p.get("class") == "face").get("fill")
        rgb = tuple(int(fill[i : i + 2], 16) for i in (1, 3, 5))
        assert img.getpixel((int(cx * scale), int(cy * scale))) == rgb, g.get("data-layer")


# ---------------------------------------------------------------------------------------------- bars


@pytest.mark.parametrize(
    "name, fold", [("vgg16", "blocks"), ("resnet18", "blocks"), ("resnet50", "stages"), ("alexnet_cifar", "none")]
)
def test_bars_sit_one_per_box_under_the_diagram(name, fold):
    a = _analysis(name)
    diagram = _svg(name, fold)
    bars = render_bars_svg(build(a, fold), a)
    assert _view_box(bars)[0] == _view_box(diagram)[0]
    boxes = {_key(g): g for g in _main_row(diagram)}
    bar_groups = [g for g in _groups(bars) if g.get("data-bar") is not None]
    assert {g.get("data-bar") for g in bar_groups} == set(boxes)
    per_key = Counter((g.get("data-bar"), "rect" if g.find(NS + "rect") is not None else "dot") for g in bar_groups)
    assert set(per_key.values()) == {1, 2}  # params and MACs bars, one receptive-field dot
    assert all(per_key[(k, "rect")] == 2 and per_key[(k, "dot")] == 1 for k in boxes)
    for g in bar_groups:  # each bar / dot lies under its own box
        rect = g.find(NS + "rect")
        x = (
            float(rect.get("x")) + float(rect.get("width")) / 2
            if rect is not None
            else float(g.find(NS + "circle").get("cx"))
        )
        lo, hi = _x_extent(boxes[g.get("data-bar")])
        assert lo <= x <= hi, g.get("data-bar")


def _bar_numbers(bars: str, what: str) -> dict[str, tuple[int, float]]:
    """{key: (value, share %)} read from the tooltips of one strip ('params' or 'MACs')."""
    out = {}
    for g in _groups(bars):
        m = re.search(rf"{what}\D*([\d,]+) = ([\d.]+)%", g.findtext(NS + "title") or "")
        if g.get("data-bar") and m:
            out[g.get("data-bar")] = (int(m.group(1).replace(",", "")), float(m.group(2)))
    return out


def test_vgg16_bars_fc_layers_hold_89_percent_of_the_weights_convs_do_99_percent_of_the_work():
    model = _meta(torchvision.models.vgg16)
    names = {m: n for n, m in model.named_modules()}
    total = sum(p.numel() for p in model.parameters())
    fcs = {names[m]: sum(p.numel() for p in m.parameters()) for m in model.modules() if isinstance(m, nn.Linear)}
    # MACs as torchinfo counts them (weights + bias per output position for convs, once for linear layers)
    macs, h = {}, 224
    for m in model.features:
        if isinstance(m, nn.MaxPool2d):
            h //= 2
        elif isinstance(m, nn.Conv2d):
            macs[names[m]] = (m.weight.numel() + m.bias.numel()) * h * h
    conv_share = 100 * sum(macs.values()) / (sum(macs.values()) + sum(fcs.values()))

    a = _analysis("vgg16")
    bars = render_bars_svg(build(a, "blocks"), a)
    params, work = _bar_numbers(bars, "params"), _bar_numbers(bars, "MACs")
    assert {k: params[k][0] for k in fcs} == fcs
    assert sum(v for v, _ in params.values()) == total
    assert sum(v for v, _ in work.values()) == sum(macs.values()) + sum(fcs.values())
    fc_share = sum(params[k][1] for k in fcs)
    assert fc_share == pytest.approx(100 * sum(fcs.values()) / total, abs=0.05 * len(fcs) + 1e-9)
    assert 88.5 < fc_share < 90
    assert {k: work[k][0] for k in macs} == macs
    assert sum(work[k][1] for k in macs) == pytest.approx(conv_share, abs=0.05 * len(macs) + 1e-9)
    assert conv_share > 99
    # bar heights are proportional to the values
    heights = {
        g.get("data-bar"): float(g.find(NS + "rect").get("height"))
        for g in _groups(bars)
        if g.get("data-bar") in fcs and g.find(NS + "rect") is not None and "params" in g.findtext(NS + "title")
    }
    first, second = list(fcs)[:2]
    assert heights[first] / heights[second] == pytest.approx(fcs[first] / fcs[second], rel=0.02)


def test_bars_receptive_field_of_a_folded_stage_is_the_one_at_its_end():
    a = _analysis("resnet50")
    svg = _svg("resnet50", "stages")
    bars = render_bars_svg(build(a, "stages"), a)
    dots = {g.get("data-bar"): g.findtext(NS + "title") for g in _groups(bars) if g.find(NS + "circle") is not None}
    row = _main_row(svg)
    wrong = []
    for i, g in enumerate(row):
        if "stage" in _cls(g):
            end = a.layers[a.by_key(_key(row[i + 1])).index - 1]  # as in the data-shape test
            rf = "×".join(map(str, end.receptive_field))
            if not dots[_key(g)].endswith(f"receptive field {rf}"):
                wrong.append((_key(g), rf, dots[_key(g)]))
            if f"끝의 수용 영역 {end.rf_display}\n" not in g.findtext(NS + "title"):
                wrong.append((_key(g), end.rf_display, "stage tooltip"))
    assert wrong == []


class _SharedConv(nn.Module):
    """One conv called twice (weights shared): its parameters exist once, its work is done twice."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 8 * 8, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.conv(self.conv(x)), 1))


def test_bars_count_a_shared_layers_parameters_once_and_its_work_per_call():
    model = _SharedConv()
    a = analyze(model, (4, 8, 8))
    conv_macs = (4 * 4 * 9 + 4) * 8 * 8  # per call, torchinfo's convention
    for fold in ("none", "stages"):  # two boxes, or one stage box folding both calls
        bars = render_bars_svg(build(a, fold), a)
        params, work = _bar_numbers(bars, "params"), _bar_numbers(bars, "MACs")
        assert sum(v for v, _ in params.values()) == sum(p.numel() for p in model.parameters())
        assert sum(v for k, (v, _) in work.items() if k.startswith("conv")) == 2 * conv_macs
    assert [g.get("data-count") for g in _groups(render_svg(a, "stages")) if "stage" in _cls(g)] == ["2"]


# ---------------------------------------------------------------------------------------------- CLI


def _cli(argv: list[str], capsys) -> tuple[int, str, str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_writes_the_svg_to_stdout(capsys):
    code, out, err = _cli(["diagram", "resnet18_cifar"], capsys)
    assert code == 0 and err == ""
    assert len(_skips(out)) == len(_fx_shortcuts(_meta(zoo.create_model, "resnet18_cifar")))
    code, out, _ = _cli(["diagram", "resnet18", "--fold", "stages", "--input", "3x160x160"], capsys)
    stages = [g for g in _groups(out) if "stage" in _cls(g)]
    assert code == 0 and [g.get("data-count") for g in stages] == ["2", "2", "2", "2"]
    assert stages[-1].get("data-shape") == "512x5x5"  # 160 / 32


def test_cli_out_writes_svg_and_png_files(tmp_path, capsys):
    svg_path, png_path = tmp_path / "d.svg", tmp_path / "d.png"
    code, out, err = _cli(["diagram", "vgg:64,M,128", "--out", str(svg_path)], capsys)
    assert code == 0 and out == "" and str(svg_path) in err
    _, stdout_svg, _ = _cli(["diagram", "vgg:64,M,128"], capsys)
    assert svg_path.read_text(encoding="utf-8") == stdout_svg
    code, out, _ = _cli(["diagram", "vgg:64,M,128", "--fold", "none", "--out", str(png_path)], capsys)
    assert code == 0 and out == ""
    with Image.open(png_path) as img:
        assert img.format == "PNG"
        w, h = _view_box(_svg("vgg:64,M,128", "none"))
        assert abs(img.width - 2 * w) <= 0.6 and abs(img.height - 2 * h) <= 0.6  # default scale 2


def _one_error_line(code: int, out: str, err: str) -> str:
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    return err


def test_cli_bad_model_and_too_small_input_are_one_line_errors(capsys):
    err = _one_error_line(*_cli(["diagram", "nosuch"], capsys))
    assert "'nosuch'" in err and all(name in err for name in zoo.list_models())
    assert err == _cli(["summary", "nosuch"], capsys)[2]  # the same words as `summary`

    pools = sum(isinstance(m, nn.MaxPool2d) for m in _meta(torchvision.models.vgg16).features)
    err = _one_error_line(*_cli(["diagram", "vgg16", "--input", "3x8x8"], capsys))
    assert "3x8x8" in err and "too small" in err and f"3x{2**pools}x{2**pools}" in err
    assert err == _cli(["summary", "vgg16", "--input", "3x8x8"], capsys)[2]

    err = _one_error_line(*_cli(["diagram", "vgg:64,Q"], capsys))
    assert "'Q'" in err


def test_cli_refuses_an_out_file_it_cannot_write(tmp_path, capsys):
    jpg = tmp_path / "d.jpg"
    err = _one_error_line(*_cli(["diagram", "vgg16", "--out", str(jpg)], capsys))
    assert "d.jpg" in err and ".svg" in err and ".png" in err
    assert not jpg.exists()
    missing = tmp_path / "no" / "d.svg"
    err = _one_error_line(*_cli(["diagram", "vgg16", "--out", str(missing)], capsys))
    assert str(missing.parent) in err and not missing.parent.exists()


# ---------------------------------------------------------------------------------------------- fit to the page


def _extent(g: ET.Element) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of a group's polygons and circles."""
    pts = [pt for p in g.iter(NS + "polygon") for pt in _points(p)]
    for c in g.iter(NS + "circle"):
        cx, cy, r = float(c.get("cx")), float(c.get("cy")), float(c.get("r"))
        pts += [(cx - r, cy - r), (cx + r, cy + r)]
    xs, ys = [x for x, _ in pts], [y for _, y in pts]
    return min(xs), min(ys), max(xs), max(ys)


def _path_points(g: ET.Element) -> list[tuple[float, float]]:
    d = next(p for p in g.iter(NS + "path") if p.get("stroke") != "transparent").get("d")
    return [tuple(float(v) for v in pair.split(",")) for pair in re.findall(r"-?[\d.]+,-?[\d.]+", d)]


def _fit_svg(name: str, fold: str = "blocks", expanded: tuple[str, ...] = ()) -> str:
    return render_svg(_analysis(name), fold, expanded, max_width=FIT_WIDTH)


def _resnet152_layer3_open() -> tuple[str, ...]:
    stages = [g for g in _groups(_svg("resnet152", "stages")) if "stage" in _cls(g)]
    return (stages[2].get("data-stage"),)


FIT_CASES = [("vgg16", "blocks", ()), ("resnet18", "blocks", ()), ("alexnet", "blocks", ())]


@pytest.mark.parametrize("name, fold, expanded", FIT_CASES + [("resnet152", "stages", "layer3")])
def test_fit_draws_the_whole_network_within_the_page_width_with_text_of_11_px_or_more(name, fold, expanded):
    expanded = _resnet152_layer3_open() if expanded else ()
    wide, fit = _svg(name, fold, expanded), _fit_svg(name, fold, expanded)
    assert _view_box(fit)[0] <= FIT_WIDTH
    assert _view_box(wide)[0] > FIT_WIDTH  # each of these is too wide for one row at full size
    rows = int(build(_analysis(name), fold, expanded, max_width=FIT_WIDTH).rows)
    assert rows >= (1 if name == "alexnet" else 2)  # AlexNet's 13 boxes fit one row once the boxes are smaller
    assert len([g for g in _groups(fit) if "wrap" in _cls(g)]) == rows - 1  # one connector per row break
    # The same layers as the one-row drawing, each once, and every text at least 11 px.
    assert sorted(g.get("data-layer") for g in _layer_elements(fit)) == sorted(
        g.get("data-layer") for g in _layer_elements(wide)
    )
    a = _analysis(name)
    bars = render_bars_svg(build(a, fold, expanded, max_width=FIT_WIDTH), a)
    for svg in (fit, bars):
        sizes = [float(t.get("font-size")) for t in ET.fromstring(svg).iter(NS + "text")]
        assert sizes and min(sizes) >= 11


@pytest.mark.parametrize("name, fold, expanded", FIT_CASES + [("resnet152", "stages", "layer3")])
def test_fit_boxes_do_not_overlap_and_every_arc_runs_from_its_source_to_its_sum(name, fold, expanded):
    expanded = _resnet152_layer3_open() if expanded else ()
    svg = _fit_svg(name, fold, expanded)
    width, height = _view_box(svg)
    boxes = {
        _key(g) or g.get("data-join"): _extent(g)
        for g in _main_row(svg) + [g for g in _groups(svg) if "join" in _cls(g)]
    }
    items = list(boxes.values())
    for i, (ax0, ay0, ax1, ay1) in enumerate(items):
        assert ax0 >= 0 and ax1 <= width and ay0 >= 0 and ay1 <= height
        for bx0, by0, bx1, by1 in items[i + 1 :]:
            assert ax1 <= bx0 or bx1 <= ax0 or ay1 <= by0 or by1 <= ay0, "two boxes overlap"
    wraps = [_points_of_line(g) for g in _groups(svg) if "wrap" in _cls(g)]
    stages = [g for g in _groups(svg) if "stage" in _cls(g)]
    by_join = {g.get("data-join"): _extent(g) for g in _groups(svg) if "join" in _cls(g) and g.get("data-join")}
    skips = _skips(svg)
    if name.startswith("resnet"):
        assert skips
    for g in skips:
        pts = _path_points(g)
        (x0, y0), (x1, y1) = pts[0], pts[-1]
        jx0, jy0, jx1, jy1 = by_join[g.get("data-join")]
        assert jx0 <= x1 <= jx1 and y1 == pytest.approx(jy0, abs=0.2)  # lands on the top of its ⊕
        apex = min(y for _, y in pts)
        assert apex < min(y0, y1)
        holder = next((s for s in stages if g.get("data-from") in s.get("data-keys").split()), None)
        source = boxes.get(g.get("data-from")) or (_extent(holder) if holder is not None else None)
        if source is not None and source[1] <= y1 <= source[3] + 60:  # same row: leaves above its source
            assert source[0] <= x0 <= source[2] + 4 and y0 <= source[1] + 1
        else:  # its source ends the row before: it branches off the connector into this row
            assert any(abs(x0 - lx) < 0.2 and abs(y0 - ly) < 0.2 for line in wraps for lx, ly in line)


def _points_of_line(g: ET.Element) -> list[tuple[float, float]]:
    return [tuple(float(v) for v in p.split(",")) for p in g.find(NS + "polyline").get("points").split()]


def test_fit_rows_balance_and_resnet152s_open_stage_keeps_every_block():
    a = _analysis("resnet152")
    expanded = _resnet152_layer3_open()
    scene = build(a, "stages", expanded, max_width=FIT_WIDTH)
    assert scene.rows >= 5 and scene.width <= FIT_WIDTH
    svg = _fit_svg("resnet152", "stages", expanded)
    drawn = {g.get("data-layer") for g in _main_row(svg)}
    assert {f"layer3.{i}.conv3" for i in range(36)} <= drawn
    assert _svg_shortcuts(svg) == {
        s for s in _fx_shortcuts(_meta(torchvision.models.resnet152)) if s[1].startswith("layer3.")
    }
    # VGG-16 in two rows, its three fc boxes on the last one (all visible at once)
    vgg = _fit_svg("vgg16")
    fc = [_extent(g) for g in _main_row(vgg) if "linear" in _cls(g)]
    assert len(fc) == 3 and all(x1 <= FIT_WIDTH for _, _, x1, _ in fc)
    assert build(_analysis("vgg16"), "blocks", max_width=FIT_WIDTH).rows == 2


def test_wrapped_bars_keep_one_evenly_spaced_column_per_box_in_row_order():
    a = _analysis("vgg16")
    scene = build(a, "blocks", max_width=FIT_WIDTH)
    bars = render_bars_svg(scene, a)
    assert _view_box(bars)[0] == pytest.approx(scene.width, abs=0.1)
    order = [_key(g) for g in _main_row(_fit_svg("vgg16"))]
    xs = {}
    for g in _groups(bars):
        rect = g.find(NS + "rect")
        if g.get("data-bar") and rect is not None:
            xs.setdefault(g.get("data-bar"), float(rect.get("x")) + float(rect.get("width")) / 2)
    assert list(xs) == order
    steps = [b - a for a, b in zip(list(xs.values()), list(xs.values())[1:])]
    assert max(steps) - min(steps) < 0.25 and min(xs.values()) > 0 and max(xs.values()) < scene.width
