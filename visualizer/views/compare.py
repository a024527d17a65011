"""Compare tab: several models side by side at one input size."""

from __future__ import annotations

import pandas as pd

from visualizer.diagram.graph import skips
from visualizer.numbers import bytes_text, count_text
from visualizer.records import Analysis
from visualizer.views.architecture import run
from visualizer.views.bars import bar_chart
from visualizer.views.layer_details import page_lang

DEPTH_TYPES = ("Conv", "Linear")
MAX_MODELS = 8
MAIN_DEPTH = "depth (conv + FC, main path)"  # what a ResNet's name counts
ALL_DEPTH = "depth (+ shortcut convs)"


def depths(a: Analysis) -> tuple[int, int]:
    """``(weight layers on the main path, weight layers counting the shortcuts' projections)``, from the records:
    ResNet-18 is (18, 21), its name counting the first; its three 1×1 projection shortcuts make the 21."""
    weight_layers = {r.key for r in a.layers if r.type.startswith(DEPTH_TYPES)}
    on_shortcuts = {key for skip in skips(a) for key in skip.via} & weight_layers
    return len(weight_layers) - len(on_shortcuts), len(weight_layers)


# The table's headers and the charts' titles in Korean (the frames keep their English names in English).
HEADERS_KO = {
    "model": "모델",
    "parameters": "파라미터",
    "params": "파라미터 (요약)",
    "MACs (torchinfo)": "MAC (torchinfo)",
    "macs": "MAC (요약)",
    "MACs (weights only)": "MAC (가중치만)",
    MAIN_DEPTH: "깊이 (합성곱 + 완전연결, 주 경로)",
    ALL_DEPTH: "깊이 (+ 지름길 합성곱)",
    "final receptive field": "마지막 수용 영역",
    "activation memory": "활성화 메모리",
}
CHART_TITLES = {
    "model": ("model", "모델"),
    "parameters (M)": ("parameters (M)", "파라미터 (M)"),
    "MACs (G)": ("MACs (G)", "MAC (G)"),
    "activations (MiB)": ("activations (MiB)", "활성화 (MiB)"),
}


def chart_title(column: str, lang: str | None = "en") -> str:
    """A chart column's axis title in the page's language."""
    return CHART_TITLES.get(column, (column, column))[page_lang(lang) == "ko"]


def compare_view(
    models: list[str] | str, input_size: str, lang: str | None = "en"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(table, chart frame with one row per model): parameters, MACs, depth, final receptive field, activations;
    the table's headers in the page's language ``lang`` (the chart's columns stay: see ``chart_title``)."""
    picked = models.split(",") if isinstance(models, str) else models if isinstance(models, (list, tuple)) else []
    names = [str(m).strip() for m in picked if str(m).strip()]
    if len(names) < 2:
        raise ValueError(f"pick at least two models to compare (got {len(names)})")
    if len(names) > MAX_MODELS:
        raise ValueError(f"at most {MAX_MODELS} models at once (got {len(names)}); remove some")
    rows, chart = [], []
    for name in names:
        a = run(name, input_size)
        spatial = [r for r in a.layers if r.receptive_field is not None]
        main_depth, all_depth = depths(a)
        rows.append(
            {
                "model": a.model_name,
                "parameters": a.total_params,
                "params": count_text(a.total_params),
                MAIN_DEPTH: main_depth,  # beside the size: the two numbers a class compares first
                ALL_DEPTH: all_depth,
                "MACs (torchinfo)": a.total_macs,
                "macs": count_text(a.total_macs),
                "MACs (weights only)": a.total_textbook_macs,
                "final receptive field": spatial[-1].rf_display if spatial else "–",
                "activation memory": bytes_text(a.total_activation_bytes),
            }
        )
        chart.append(
            {
                "model": a.model_name,
                "parameters (M)": a.total_params / 1e6,
                "MACs (G)": a.total_macs / 1e9,
                "activations (MiB)": a.total_activation_bytes / 2**20,
            }
        )
    table = pd.DataFrame(rows)
    return (table.rename(columns=HEADERS_KO) if page_lang(lang) == "ko" else table), pd.DataFrame(chart)


MEASURES = {"parameters (M)": "{:.2f} M", "MACs (G)": "{:.2f} G", "activations (MiB)": "{:.0f} MiB"}


def charts_html(chart: pd.DataFrame, lang: str | None = "en") -> str:
    """The chart frame of ``compare_view`` as three bar charts side by side (parameters, MACs, activation memory),
    the models in the table's order and each in the same colour in all three; titles in ``lang``."""
    charts = "".join(
        bar_chart(
            chart_title(measure, lang),
            [(str(m), float(v), written.format(v)) for m, v in zip(chart["model"], chart[measure])],
        )
        for measure, written in MEASURES.items()
    )
    return f"<div class='cnnviz-bars-row' data-view='compare-charts'>{charts}</div>"
