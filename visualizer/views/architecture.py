"""Architecture tab: the per-layer table, totals, breakdown charts and receptive-field growth.

Every number comes from one ``Analysis`` (one pass of the engine), so the views cannot disagree.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Sequence
from typing import Any

import pandas as pd

import zoo
from visualizer import diagram
from visualizer.analysis import analyze_model, parse_input_shape
from visualizer.diagram.bars import render_bars_svg
from visualizer.diagram.scene import COLORS, FIT_WIDTH
from visualizer.numbers import bytes_text, count_text, shape_text, share_text
from visualizer.records import Analysis
from visualizer.report import MACS_TEXTBOOK, MACS_TORCHINFO, table_rows
from visualizer.views.layer_details import details_html, empty_card, page_lang, t

FOLDS = {"none": ("every layer", "모든 층"), "blocks": ("conv blocks", "합성곱 블록"), "stages": ("stages", "단계")}
FOLD_CHOICES = [(en, key) for key, (en, _) in FOLDS.items()]  # the page makes them in its language: fold_choices
# The per-layer table's headers in Korean (the downloads keep the English ones: a file is read by scripts too).
TABLE_HEADERS_KO = {
    "#": "#",
    "Layer": "층",
    "Type": "종류",
    "Output shape": "출력 모양",
    "Kernel / stride / pad": "커널 / stride / 패딩",
    "Params": "파라미터",
    "Params %": "파라미터 %",
    MACS_TORCHINFO: "MAC (torchinfo)",
    MACS_TEXTBOOK: "MAC (가중치만)",
    "Output KiB": "출력 KiB",
    "Receptive field": "수용 영역",
    "Jump": "점프",
}
MAX_DEFAULT_BOXES = 40  # deeper than this in "blocks" mode and the page opens folded to stages
EXPORTS_KEPT = 32  # download folders kept; older ones are deleted (the server owns only what it wrote)
STEM_CHARS = 40  # a download's name, model part: file systems refuse names over 255 bytes
STALE_STAGING_S = 600  # an unfinished download folder this old was left by a killed process


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


def fold_choices(lang: str | None = "en") -> list[tuple[str, str]]:
    """The fold picker's (label, value) pairs in the page's language."""
    ko = page_lang(lang) == "ko"
    return [(names[ko], key) for key, names in FOLDS.items()]


def layer_table(a: Analysis, lang: str | None = "en") -> pd.DataFrame:
    """One row per layer call; headers in the page's language (``lang``), English by default (the downloads). One
    frame per analysis and language, shared by every answer (read it, never change it)."""
    return _layer_table(a.model_name, tuple(a.input_shape), page_lang(lang))


@functools.lru_cache(maxsize=64)
def _layer_table(name: str, shape: tuple[int, ...], lang: str) -> pd.DataFrame:
    table = pd.DataFrame(table_rows(analyze_model(name, shape)))
    if lang == "ko":
        table["Layer"] = table["Layer"].str.replace(r" \(call (\d+)\)$", r" (\1번째 호출)", regex=True)
        table = table.rename(columns=TABLE_HEADERS_KO)
    return table


def totals_markdown(a: Analysis) -> str:
    """The totals under the diagram, both languages (``t``: the page shows one)."""
    spec = zoo.get_spec(a.model_name)
    c, h, w = a.input_shape
    split = a.conv_fc_split()
    spatial = [r for r in a.layers if r.receptive_field is not None]
    headers = [
        t("input", "입력"),
        t("output", "출력"),
        t("parameters", "파라미터"),
        t("trainable", "학습 가능"),
        t("MACs (torchinfo)", "MAC (torchinfo)"),
        t("MACs (weights only)", "MAC (가중치만)"),
        t("activations (batch 1, fp32)", "활성화 (배치 1, fp32)"),
        t("layers recorded", "기록된 층"),
    ]
    lines = [
        f"**{a.model_name}** — {t(spec.description, spec.description_ko or spec.description)}",
        "",
        "| " + " | ".join(headers) + " |",
        "|" + "---|" * len(headers),
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
        conv_params, fc_params = f"**{split['conv_params']:,}**", f"**{split['fc_params']:,}**"
        conv_macs, fc_macs = count_text(split["conv_macs"]), count_text(split["fc_macs"])
        en = (
            f"Conv layers: {conv_params} parameters, {conv_macs} MACs · fully-connected: {fc_params} parameters, "
            f"{fc_macs} MACs"
            + (f" · FC/conv parameters = **{ratio:.2f}×**" if ratio is not None else "")
            + (f" · conv/FC MACs = **{mac_ratio:.1f}×**" if mac_ratio is not None else "")
            + " (MACs in torchinfo's convention)"
        )
        ko = (
            f"합성곱층: 파라미터 {conv_params}개, MAC {conv_macs} · 완전연결층: 파라미터 {fc_params}개, MAC {fc_macs}"
            + (f" · 파라미터 비 완전연결/합성곱 = **{ratio:.2f}×**" if ratio is not None else "")
            + (f" · MAC 비 합성곱/완전연결 = **{mac_ratio:.1f}×**" if mac_ratio is not None else "")
            + " (MAC은 torchinfo 기준)"
        )
        lines.append(t(en, ko))
    if spatial:
        last = spatial[-1]
        jump = shape_text(last.jump)
        lines.append(
            "\n"
            + t(
                f"Largest receptive field: **{last.rf_display}** at `{last.name}` (input {h}×{w}, jump {jump}).",
                f"가장 큰 수용 영역: `{last.name}`에서 **{last.rf_display}** (입력 {h}×{w}, 점프 {jump}).",
            )
        )
    if (c, h, w) != tuple(spec.input_size):
        design = shape_text(spec.input_size)
        lines.append(
            "\n" + t(f"This model was designed for {design}.", f"이 모델은 {design} 입력용으로 설계되었습니다.")
        )
    lines += [f"\n> {t(note, _note_ko(note))}" for note in a.notes]
    return "\n".join(lines)


# The engine's notes (``analysis.collect._notes``), by how they start.
NOTES_KO = {
    "≤ marks": "≤ 표시는 유닛마다 다른 수용 영역입니다 (맵 크기를 나누어떨어지지 않는 적응형 풀링, stride > 1인 전치 "
    "합성곱): 숫자는 상한입니다",
    "unknown marks": "unknown 표시는 추적할 수 없는 수용 영역입니다 (리샘플링, 토큰 시퀀스, 어텐션 창): 틀린 숫자 대신 "
    "숫자를 보이지 않습니다",
    "a reshape in": "reshape 하나가 배치 차원을 바꾸었고 뒤의 reshape가 되돌렸습니다",
}


def _note_ko(note: str) -> str:
    return next((ko for start, ko in NOTES_KO.items() if note.startswith(start)), note)


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
    """A new folder for one set of downloads; the oldest beyond ``EXPORTS_KEPT`` are removed, and so are
    unfinished ones older than ``STALE_STAGING_S`` (a process killed while writing)."""
    root = _exports_root()
    entries = [e for e in os.scandir(root) if e.is_dir()]
    folders = sorted((e for e in entries if not e.name.startswith(".")), key=lambda e: e.stat().st_mtime)
    stale = [e for e in entries if e.name.startswith(".") and time.time() - e.stat().st_mtime > STALE_STAGING_S]
    for old in folders[: max(0, len(folders) - EXPORTS_KEPT + 1)] + stale:
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
        try:
            export_table(a, layer_table(a), folder)
            export_diagram(a, fold, expanded, folder)
        except OSError as exc:  # a full disk, say: no half-written folder stays, and no server path is shown
            shutil.rmtree(folder, ignore_errors=True)
            raise ValueError(
                f"could not write the download files for {stem}: {exc.strerror or type(exc).__name__}"
            ) from None
        try:
            os.rename(folder, final)
        except OSError:  # another request finished the same set first: use theirs
            shutil.rmtree(folder, ignore_errors=True)
    os.utime(final)  # recently used: pruned last
    return [os.path.join(final, n) for n in names]


def _stem(a: Analysis) -> str:
    """A short, file-safe name for the downloads: the model's name (a long custom string cut, with a digest of
    the whole so different models never share one) and the input size."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", a.model_name.replace(":", "_").replace(",", "-"))
    if len(name) > STEM_CHARS:
        name = name[: STEM_CHARS - 9] + "-" + hashlib.sha1(a.model_name.encode()).hexdigest()[:8]
    return name + "_" + shape_text(a.input_shape, "x")


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
    scene = diagram.build(a, fold, expanded, selected, max_width=FIT_WIDTH)
    hint = t(
        "Click a box for its details · hover for numbers · ×N opens a folded stage",
        "상자를 클릭하면 자세히 · 마우스를 올리면 숫자 · ×N을 누르면 접힌 단계가 펼쳐집니다",
    )
    return (
        f"<div class='diagram-hint'>{hint}</div>{share_line_html(a)}<div class='diagram-scroll'>"
        f"{diagram.svg.to_svg(scene, fit=True)}{render_bars_svg(scene, a, fit=True)}</div>"
    )


def shares(a: Analysis) -> dict[str, int]:
    """Where the weights and the work are: fully-connected vs conv parameters and MACs, and the totals (from the
    records, as the bars and the totals table count them: a shared layer's weights once, its work per call)."""
    split = a.conv_fc_split()
    return {
        "fc_params": split["fc_params"],
        "conv_params": split["conv_params"],
        "params": a.total_params,
        "conv_macs": split["conv_macs"],
        "fc_macs": split["fc_macs"],
        "macs": a.total_macs,
    }


def _share_bar(parts: list[tuple[int, str]], whole: int) -> str:
    """A small stacked bar (one segment per part, in its kind's colour, the rest grey)."""
    segments = "".join(
        f"<span style='width:{100 * n / whole:.2f}%;background:{color}'></span>" for n, color in parts if whole and n
    )
    return f"<span class='share-bar'>{segments}</span>"


def share_line_html(a: Analysis) -> str:
    """The bars' lesson in one line, above the drawing: e.g. ``FC 89 % of the weights · conv 99.9 % of the
    MACs`` (English and Korean), each with a small stacked bar in the diagram's colours."""
    s = shares(a)
    fc, conv = COLORS["linear"], COLORS["conv"]
    w, m = share_text(s["fc_params"], s["params"]), share_text(s["conv_macs"], s["macs"])
    weights = _share_bar([(s["fc_params"], fc), (s["conv_params"], conv)], s["params"])
    work = _share_bar([(s["fc_macs"], fc), (s["conv_macs"], conv)], s["macs"])

    def word(text: str, color: str) -> str:
        return f"<b style='color:{color}'>{text}</b>"

    weights_text = t(f"{word('FC', fc)} {w} of the weights", f"{word('완전연결층', fc)}이 가중치의 {w}")
    work_text = t(f"{word('conv', conv)} {m} of the MACs", f"{word('합성곱층', conv)}이 연산(MAC)의 {m}")
    return (
        f"<div class='share-line' data-fc-params='{w}' data-conv-macs='{m}'>"
        f"{weights} {weights_text}<span class='share-sep'>·</span>{work} {work_text}</div>"
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
    model: str, input_size: str, fold: str | None = None, lang: str | None = "en"
) -> tuple[pd.DataFrame, str, str, list[str], str, dict, str]:
    """Everything the Architecture tab shows; the first output is the layer table (headers in ``lang``).

    ``(table, totals, diagram HTML, download files, fold used, page state, details card)``; ``fold`` None:
    the model's default (``default_fold``).
    """
    a = run(model, input_size)
    fold = fold if fold in diagram.FOLDS else default_fold(a)
    return (
        layer_table(a, lang),
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


def select_view(state: dict | None, key: str, lang: str | None = "en") -> tuple[str, dict]:
    """A click on a box (or a table row): ``(details card, state)``. The page highlights the layer's box and its
    table row itself (``ui.architecture.DIAGRAM_JS``), so the table is not sent again. (``lang``: the card carries
    both languages; kept for the callers that name the page's.)"""
    a = _from_state(state)
    key = (key or "").strip()
    try:
        a.by_key(key)
    except KeyError as exc:
        raise ValueError(str(exc).strip("'\"")) from None
    return details_html(a, key), {**state, "selected": key}


def table_view(state: dict | None, lang: str | None = "en") -> Any:
    """The layer table of the page's analysis in ``lang`` (the page marks the selected row itself); None before
    one."""
    if not state:
        return None
    return layer_table(_from_state(state), lang)


def row_key(state: dict | None, row: int) -> str:
    """The layer key of table row ``row`` (rows are the records, in call order)."""
    a = _from_state(state)
    if not 0 <= row < len(a.layers):
        raise ValueError(f"row {row} is not in the table (0..{len(a.layers) - 1})")
    return a.layers[row].key
