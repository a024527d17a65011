"""Architecture tab: the per-layer table, totals, breakdown charts and receptive-field growth.

Every number comes from one ``Analysis`` (one pass of the engine), so the views cannot disagree.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Sequence
from typing import Any

import pandas as pd

import zoo
from visualizer import diagram
from visualizer.analysis import analyze_model, parse_input_shape
from visualizer.diagram.bars import render_bars_svg
from visualizer.numbers import bytes_text, count_text, shape_text
from visualizer.records import Analysis
from visualizer.report import table_rows
from visualizer.views.layer_details import details_html, empty_card, t

FOLD_CHOICES = [("every layer · 모든 층", "none"), ("conv blocks · 합성곱 블록", "blocks"), ("stages · 단계", "stages")]
MAX_DEFAULT_BOXES = 40  # deeper than this in "blocks" mode and the page opens folded to stages
EXPORTS_KEPT = 32  # download folders kept; older ones are deleted (the server owns only what it wrote)


def run(model: str, input_size: str | Sequence[int] | None) -> Analysis:
    """Analyse a zoo model or custom VGG string at an input size like ``3x224x224`` (default: design size)."""
    name = (model or "").strip()
    if not name:
        raise ValueError("no model chosen; pick one from the list or type a config like vgg:64,M,128")
    spec = zoo.get_spec(name)  # UnknownModelError / ConfigError say what exists
    text = input_size if not isinstance(input_size, str) or input_size.strip() else None
    return analyze_model(spec.name, spec.input_size if text is None else parse_input_shape(text))


def design_size(model: str) -> str:
    """The input size a model was designed for, written like ``3x224x224``."""
    return shape_text(zoo.get_spec((model or "").strip()).input_size, "x")


def layer_table(a: Analysis) -> pd.DataFrame:
    """The per-layer table; one frame per analysis, shared by every answer (read it, never change it)."""
    return _layer_table(a.model_name, tuple(a.input_shape))


@functools.lru_cache(maxsize=64)
def _layer_table(name: str, shape: tuple[int, ...]) -> pd.DataFrame:
    return pd.DataFrame(table_rows(analyze_model(name, shape)))


def totals_markdown(a: Analysis) -> str:
    spec = zoo.get_spec(a.model_name)
    c, h, w = a.input_shape
    split = a.conv_fc_split()
    spatial = [r for r in a.layers if r.receptive_field is not None]
    lines = [
        f"**{a.model_name}** — {spec.description}",
        "",
        "| input | output | parameters | trainable | MACs (torchinfo) | MACs (weights only) | "
        "activations (batch 1, fp32) | layers recorded |",
        "|---|---|---|---|---|---|---|---|",
        f"| {c}×{h}×{w} | {shape_text(a.output_shape[1:] if a.output_shape else None, empty='–')} | "
        f"{a.total_params:,} ({count_text(a.total_params)}) | {a.trainable_params:,} | "
        f"{a.total_macs:,} ({count_text(a.total_macs)}) | "
        f"{a.total_textbook_macs:,} ({count_text(a.total_textbook_macs)}) | "
        f"{bytes_text(a.total_activation_bytes)} | {len(a.layers)} |",
        "",
    ]
    if split["conv_params"] or split["fc_params"]:
        ratio = split["fc_to_conv_params"]
        mac_ratio = split["conv_to_fc_macs"]
        lines.append(
            f"Conv layers: **{split['conv_params']:,}** parameters, {count_text(split['conv_macs'])} MACs · "
            f"fully-connected: **{split['fc_params']:,}** parameters, {count_text(split['fc_macs'])} MACs"
            + (f" · FC/conv parameters = **{ratio:.2f}×**" if ratio is not None else "")
            + (f" · conv/FC MACs = **{mac_ratio:.1f}×**" if mac_ratio is not None else "")
            + " (MACs in torchinfo's convention)"
        )
    if spatial:
        last = spatial[-1]
        lines.append(
            f"\nLargest receptive field: **{last.rf_display}** at `{last.name}` "
            f"(input {h}×{w}, jump {shape_text(last.jump)})."
        )
    if (c, h, w) != tuple(spec.input_size):
        lines.append(f"\nThis model was designed for {shape_text(spec.input_size)}.")
    lines += [f"\n> {note}" for note in a.notes]
    return "\n".join(lines)


def to_markdown(df: pd.DataFrame) -> str:
    header = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"


def _exports_root() -> str:
    root = os.path.join(tempfile.gettempdir(), f"cnnviz-exports-{os.getuid() if hasattr(os, 'getuid') else 0}")
    os.makedirs(root, exist_ok=True)
    return root


def _export_folder() -> str:
    """A new folder for one set of downloads; the oldest beyond ``EXPORTS_KEPT`` are removed."""
    root = _exports_root()
    folders = sorted(
        (e for e in os.scandir(root) if e.is_dir() and not e.name.startswith(".")), key=lambda e: e.stat().st_mtime
    )
    for old in folders[: max(0, len(folders) - EXPORTS_KEPT + 1)]:
        shutil.rmtree(old.path, ignore_errors=True)
    folder = os.path.join(root, "." + uuid.uuid4().hex)  # hidden until complete
    os.makedirs(folder)
    return folder


def downloads(a: Analysis, fold: str, expanded: Sequence[str] = ()) -> list[str]:
    """The table (CSV, Markdown) and the diagram (SVG, PNG) of this analysis and drawing, written once per
    (model, input size, fold, expanded stages) and reused: a folder is complete before it appears under its
    name, and never rewritten, so concurrent replies can share it."""
    key = "|".join([a.model_name, shape_text(a.input_shape, "x"), fold, *sorted(expanded)])
    final = os.path.join(_exports_root(), hashlib.sha1(key.encode()).hexdigest()[:20])
    stem = _stem(a)
    names = [stem + ".csv", stem + ".md", f"{stem}_{fold}.svg", f"{stem}_{fold}.png"]
    if not all(os.path.exists(os.path.join(final, n)) for n in names):
        folder = _export_folder()
        export_table(a, layer_table(a), folder)
        export_diagram(a, fold, expanded, folder)
        try:
            os.rename(folder, final)
        except OSError:  # another request finished the same set first: use theirs
            shutil.rmtree(folder, ignore_errors=True)
    os.utime(final)  # recently used: pruned last
    return [os.path.join(final, n) for n in names]


def _stem(a: Analysis) -> str:
    return a.model_name.replace(":", "_").replace(",", "-") + "_" + shape_text(a.input_shape, "x")


def export_table(a: Analysis, table: pd.DataFrame, folder: str | None = None) -> list[str]:
    """Write the layer table as CSV and Markdown files; return their paths."""
    folder = folder or _export_folder()
    stem = _stem(a)
    csv_path, md_path = os.path.join(folder, stem + ".csv"), os.path.join(folder, stem + ".md")
    table.to_csv(csv_path, index=False)
    with open(md_path, "w", encoding="utf-8") as f:
        f.write(f"# {a.model_name} at {'x'.join(map(str, a.input_shape))}\n\n")
        f.write(to_markdown(table))
    return [csv_path, md_path]


def export_diagram(a: Analysis, fold: str, expanded: Sequence[str] = (), folder: str | None = None) -> list[str]:
    """The diagram as an SVG file (for slides) and a PNG at twice its size; return their paths."""
    folder = folder or _export_folder()
    stem = _stem(a) + f"_{fold}"
    svg_path, png_path = os.path.join(folder, stem + ".svg"), os.path.join(folder, stem + ".png")
    with open(svg_path, "w", encoding="utf-8") as f:
        f.write(diagram.render_svg(a, fold, expanded) + "\n")
    diagram.render_png(a, fold, expanded).save(png_path)
    return [svg_path, png_path]


def default_fold(a: Analysis) -> str:
    """Blocks (every residual block and shortcut drawn) unless that makes too many boxes: then stages."""
    return _default_fold(a.model_name, tuple(a.input_shape))


@functools.lru_cache(maxsize=64)
def _default_fold(name: str, shape: tuple[int, ...]) -> str:
    row, _ = diagram.nodes(analyze_model(name, shape), "blocks")
    return "blocks" if len(row) <= MAX_DEFAULT_BOXES else "stages"


def diagram_html(a: Analysis, fold: str, expanded: Sequence[str] = (), selected: str | None = None) -> str:
    """The diagram with the per-layer bars under it, both scaled to the page width (so they stay aligned)."""
    return _diagram_html(a.model_name, tuple(a.input_shape), fold, tuple(expanded), selected)


@functools.lru_cache(maxsize=64)
def _diagram_html(name: str, shape: tuple[int, ...], fold: str, expanded: tuple[str, ...], selected: str | None) -> str:
    a = analyze_model(name, shape)
    scene = diagram.build(a, fold, expanded, selected)
    hint = t(
        "Click a box for its details · hover for numbers · ×N opens a folded stage",
        "상자를 클릭하면 자세히 · 마우스를 올리면 숫자 · ×N을 누르면 접힌 단계가 펼쳐집니다",
    )
    return (
        f"<div class='diagram-hint'>{hint}</div><div class='diagram-scroll'>"
        f"{diagram.svg.to_svg(scene, fit=True)}{render_bars_svg(scene, a, fit=True)}</div>"
    )


def arch_state(a: Analysis, fold: str, expanded: Sequence[str] = (), selected: str | None = None) -> dict[str, Any]:
    """What the page keeps between events: plain values only (the analysis itself is cached by name and shape)."""
    return {
        "model": a.model_name,
        "input_size": shape_text(a.input_shape, "x"),
        "fold": fold,
        "expanded": list(expanded),
        "selected": selected,
    }


def _from_state(state: dict | None) -> Analysis:
    if not state:
        raise ValueError("analyse a model first (pick one and press Analyze)")
    return run(state["model"], state["input_size"])


def analyze_view(
    model: str, input_size: str, fold: str | None = None
) -> tuple[pd.DataFrame, str, str, list[str], str, dict, str]:
    """Everything the Architecture tab shows; the first output is the layer table.

    ``(table, totals, diagram HTML, download files, fold used, page state, details card)``; ``fold`` None:
    the model's default (``default_fold``).
    """
    a = run(model, input_size)
    fold = fold if fold in diagram.FOLDS else default_fold(a)
    return (
        layer_table(a),
        totals_markdown(a),
        diagram_html(a, fold),
        downloads(a, fold),
        fold,
        arch_state(a, fold),
        empty_card(),
    )


def redraw_view(state: dict | None, fold: str | None = None, expand: str | None = None) -> tuple[str, list[str], dict]:
    """Redraw after a fold change or a click on a stage's ×N: ``(diagram HTML, downloads, state)``."""
    a = _from_state(state)
    fold = fold if fold in diagram.FOLDS else state["fold"]
    expanded = list(state.get("expanded", [])) if fold == state["fold"] else []
    if expand and expand not in expanded:
        expanded.append(expand)
    new = arch_state(a, fold, expanded, state.get("selected"))
    return diagram_html(a, fold, expanded, new["selected"]), downloads(a, fold, expanded), new


def select_view(state: dict | None, key: str) -> tuple[str, dict]:
    """A click on a box (or a table row): ``(details card, state)``. The page highlights the layer's box and its
    table row itself (``ui.architecture.DIAGRAM_JS``), so the table is not sent again."""
    a = _from_state(state)
    key = (key or "").strip()
    try:
        a.by_key(key)
    except KeyError as exc:
        raise ValueError(str(exc).strip("'\"")) from None
    return details_html(a, key), {**state, "selected": key}


def row_key(state: dict | None, row: int) -> str:
    """The layer key of table row ``row`` (rows are the records, in call order)."""
    a = _from_state(state)
    if not 0 <= row < len(a.layers):
        raise ValueError(f"row {row} is not in the table (0..{len(a.layers) - 1})")
    return a.layers[row].key
