"""Architecture tab: the per-layer table, totals, breakdown charts and receptive-field growth.

Every number comes from one ``Analysis`` (one pass of the engine), so the views cannot disagree.
"""
from __future__ import annotations

import os
import tempfile
from typing import Sequence

import pandas as pd

import zoo
from visualizer.analysis import Analysis, analyze_model, parse_input_shape


def human(n: float, unit: str = "") -> str:
    """12_345_678 → '12.35 M' (SI prefixes, the way papers quote parameter and MAC counts)."""
    for div, prefix in ((1e12, " T"), (1e9, " G"), (1e6, " M"), (1e3, " k")):
        if abs(n) >= div:
            return f"{n / div:.2f}{prefix}{unit}"
    return f"{n:g}{(' ' + unit) if unit else ''}"


def run(model: str, input_size: str | Sequence[int] | None) -> Analysis:
    """Analyse a zoo model or custom VGG string at an input size like ``3x224x224`` (default: design size)."""
    name = (model or "").strip()
    if not name:
        raise ValueError("no model chosen; pick one from the list or type a config like vgg:64,M,128")
    spec = zoo.get_spec(name)  # UnknownModelError / ConfigError say what exists
    text = input_size if not isinstance(input_size, str) or input_size.strip() else None
    shape = spec.input_size if text is None else parse_input_shape(text)
    return analyze_model(spec.name, shape)


def design_size(model: str) -> str:
    """The input size a model was designed for, written like ``3x224x224``."""
    return "x".join(map(str, zoo.get_spec((model or "").strip()).input_size))


def layer_table(a: Analysis) -> pd.DataFrame:
    return pd.DataFrame(a.table_rows())


def totals_markdown(a: Analysis) -> str:
    spec = zoo.get_spec(a.model_name)
    c, h, w = a.input_shape
    split = a.conv_fc_split()
    spatial = [r for r in a.layers if r.receptive_field is not None]
    lines = [
        f"**{a.model_name}** — {spec.description}",
        "",
        f"| input | output | parameters | trainable | MACs (torchinfo) | MACs (weights only) | "
        f"activations (batch 1, fp32) | layers recorded |",
        f"|---|---|---|---|---|---|---|---|",
        f"| {c}×{h}×{w} | {'×'.join(map(str, a.output_shape[1:])) if a.output_shape else '–'} | "
        f"{a.total_params:,} ({human(a.total_params)}) | {a.trainable_params:,} | "
        f"{a.total_macs:,} ({human(a.total_macs)}) | {a.total_textbook_macs:,} ({human(a.total_textbook_macs)}) | "
        f"{human(a.total_activation_bytes, 'B')} | {len(a.layers)} |",
        "",
    ]
    if split["conv_params"] or split["fc_params"]:
        ratio = split["fc_to_conv_params"]
        mac_ratio = split["conv_to_fc_macs"]
        lines.append(
            f"Conv layers: **{split['conv_params']:,}** parameters, {human(split['conv_macs'])} MACs · "
            f"fully-connected: **{split['fc_params']:,}** parameters, {human(split['fc_macs'])} MACs"
            + (f" · FC/conv parameters = **{ratio:.2f}×**" if ratio is not None else "")
            + (f" · conv/FC MACs = **{mac_ratio:.1f}×**" if mac_ratio is not None else "")
            + " (MACs in torchinfo's convention)"
        )
    if spatial:
        last = spatial[-1]
        lines.append(f"\nLargest receptive field: **{last.rf_display}** at `{last.name}` "
                     f"(input {h}×{w}, jump {'×'.join(f'{j:g}' for j in last.jump)}).")
    if (c, h, w) != tuple(spec.input_size):
        lines.append(f"\nThis model was designed for {'×'.join(map(str, spec.input_size))}.")
    lines += [f"\n> {note}" for note in a.notes]
    return "\n".join(lines)


def breakdown_frames(a: Analysis) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Long-form frames (group, value, grouping) for the parameter and MAC bar charts."""
    split = a.conv_fc_split()
    def frame(by_type: dict, by_block: dict, conv: int, fc: int, col: str) -> pd.DataFrame:
        rows = [{"group": k, col: v, "grouping": "by layer type"} for k, v in by_type.items() if v]
        rows += [{"group": f"[{k}]", col: v, "grouping": "by block"} for k, v in by_block.items() if v]
        rows += [{"group": k, col: v, "grouping": "conv vs FC"} for k, v in (("conv", conv), ("FC", fc))]
        return pd.DataFrame(rows, columns=["group", col, "grouping"])

    return (frame(a.params_by_type(), a.params_by_block(), split["conv_params"], split["fc_params"], "parameters"),
            frame(a.macs_by_type(), a.macs_by_block(), split["conv_macs"], split["fc_macs"], "MACs"))


def rf_frame(a: Analysis) -> pd.DataFrame:
    """Receptive field (height and width) by layer depth, with the input size drawn as a flat line."""
    rows = []
    _, h, w = a.input_shape
    for r in a.layers:
        if r.receptive_field is None:
            continue
        rows.append({"depth": r.index, "pixels": r.receptive_field[0], "series": "receptive field (height)"})
        if r.receptive_field[1] != r.receptive_field[0] or h != w:
            rows.append({"depth": r.index, "pixels": r.receptive_field[1], "series": "receptive field (width)"})
        rows.append({"depth": r.index, "pixels": h, "series": f"input height {h}"})
    return pd.DataFrame(rows, columns=["depth", "pixels", "series"])


def to_markdown(df: pd.DataFrame) -> str:
    header = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"


def export_table(a: Analysis, table: pd.DataFrame, folder: str | None = None) -> list[str]:
    """Write the layer table as CSV and Markdown files; return their paths."""
    folder = folder or tempfile.mkdtemp(prefix="cnnviz-")
    stem = a.model_name.replace(":", "_").replace(",", "-") + "_" + "x".join(map(str, a.input_shape))
    csv_path, md_path = os.path.join(folder, stem + ".csv"), os.path.join(folder, stem + ".md")
    table.to_csv(csv_path, index=False)
    with open(md_path, "w", encoding="utf-8") as f:
        f.write(f"# {a.model_name} at {'x'.join(map(str, a.input_shape))}\n\n")
        f.write(to_markdown(table))
    return [csv_path, md_path]


def analyze_view(model: str, input_size: str) -> tuple[pd.DataFrame, str, pd.DataFrame, pd.DataFrame,
                                                       pd.DataFrame, list[str]]:
    """Everything the Architecture tab shows; the first output is the layer table."""
    a = run(model, input_size)
    table = layer_table(a)
    params, macs = breakdown_frames(a)
    return table, totals_markdown(a), params, macs, rf_frame(a), export_table(a, table)
