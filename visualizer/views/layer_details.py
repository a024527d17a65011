"""The details card of one layer: its formulas worked with its own numbers (CNN Explainer's lesson).

Everything is read from the layer's ``LayerRecord`` (and the record it reads from): the output-size formula
with this layer's kernel, stride, padding and input size; the parameter count ``C_in·C_out·k·k + C_out``; the
MACs in both conventions (textbook: weights × output positions; torchinfo: bias included); and how the
receptive field follows from the previous one, ``r = r_prev + (k−1)·d·j_prev``. English and Korean are both
in the HTML (``.en`` / ``.ko``); the page shows the one its language switch asks for.
"""

from __future__ import annotations

import math
from html import escape

from visualizer.kinds import kind_of
from visualizer.numbers import number_text, shape_text
from visualizer.records import Analysis, LayerRecord

DIMS = ("H", "W", "D")


BILINGUAL = '<span class="en">'


def t(en: str, ko: str) -> str:
    """The same text in both languages; CSS shows one."""
    return f'{BILINGUAL}{en}</span><span class="ko">{ko}</span>'


def is_bilingual(text: str) -> bool:
    """Whether ``text`` is ``t``'s HTML (markup, not plain text)."""
    return text.startswith(BILINGUAL)


def page_lang(lang: str | None) -> str:
    """``"ko"`` for a Korean page, else ``"en"`` (what the browser reports, e.g. ``ko-KR``): for the values that
    cannot carry both languages (table headers, chart titles, choices)."""
    return "ko" if str(lang or "").lower().startswith("ko") else "en"


def _dims(r: LayerRecord) -> list[tuple[str, int, int]]:
    """(dim name, input size, output size) per spatial dim."""
    ins, outs = (r.input_shape or [])[2:], (r.output_shape or [])[2:]
    names = DIMS[: len(outs)] if len(outs) != 1 else ("L",)
    return [(names[i], int(a), int(b)) for i, (a, b) in enumerate(zip(ins, outs))]


def _two_lines(symbols: str, numbers: str) -> str:
    """A formula in symbols, then the same with this layer's numbers, each on its own line."""
    first = f"<code>{symbols}</code><br>" if symbols else ""
    return f"<div class='formula'>{first}<code>= {numbers}</code></div>"


def _same_per_dim(values) -> bool:
    return values is not None and not isinstance(values, str) and len(set(values)) == 1


def is_transposed(r: LayerRecord) -> bool:
    """A transposed convolution (``ConvTranspose2d``): it spreads each input over ``k`` outputs instead."""
    return r.type.startswith("ConvTranspose")


def output_size_formula(r: LayerRecord) -> str:
    """``H_out = ⌊(H_in + 2·p − d·(k−1) − 1)/s⌋ + 1 = … = 224`` for every spatial dim (one line when equal)."""
    dims = _dims(r)
    if r.kernel is None or not dims:
        return ""
    if isinstance(r.padding, str):
        return (
            f"<code>padding='{escape(r.padding)}'</code>: "
            + t("the output keeps the input's size", "출력이 입력 크기를 유지합니다")
            + f" ({shape_text([d[2] for d in dims], empty='–')})"
        )
    lines = []
    show = (
        dims[:1]
        if all(_same_per_dim(v) for v in (r.kernel, r.stride, r.padding, r.dilation or [1]))
        and len({(a, b) for _, a, b in dims}) == 1
        else dims
    )
    for i, (name, n_in, n_out) in enumerate(show):
        k, s, p = r.kernel[i], r.stride[i], r.padding[i]
        d = (r.dilation or [1] * len(dims))[i]
        inner = n_in + 2 * p - d * (k - 1) - 1
        label = f"{name}_out" if len(show) > 1 or len(dims) == 1 else " = ".join(f"{x[0]}_out" for x in dims)
        if is_transposed(r):
            # out = (in − 1)·s − 2p + d·(k − 1) + output_padding + 1; output_padding is not in the record,
            # but it is what the output size says it was.
            base = (n_in - 1) * s - 2 * p + d * (k - 1) + 1
            extra = n_out - base
            lines.append(
                _two_lines(
                    f"{label} = ({name}_in − 1)·s − 2·p + d·(k−1)" + (" + output_padding" if extra else "") + " + 1",
                    f"({n_in} − 1)·{s} − 2·{p} + {d}·({k}−1)" + (f" + {extra}" if extra else "") + f" + 1 = {n_out}",
                )
            )
            continue
        lines.append(
            _two_lines(
                f"{label} = ⌊({name}_in + 2·p − d·(k−1) − 1) / s⌋ + 1",
                f"⌊({n_in} + 2·{p} − {d}·({k}−1) − 1) / {s}⌋ + 1 = {inner // s + 1}",
            )
        )
        if inner // s + 1 != n_out:  # ceil_mode pooling rounds up instead
            lines[-1] += " " + t(f"(rounded up: ceil mode → {n_out})", f"(올림: ceil 모드 → {n_out})")
    return "".join(lines)


def params_formula(r: LayerRecord) -> str:
    kind = kind_of(r)
    if r.call_index > 0:
        return t(
            f"shared with the first call of {escape(r.name)} (counted once)",
            f"{escape(r.name)}의 첫 호출과 공유 (한 번만 셈)",
        )
    if kind == "conv" and r.kernel and r.input_shape and r.output_shape:
        c_in, c_out, g = r.input_shape[1], r.output_shape[1], r.groups
        weights = c_in // g * c_out * math.prod(r.kernel)
        bias = r.params - weights
        k = " · ".join(map(str, r.kernel))
        k_sym = " · ".join(f"k_{d.lower()}" for d, *_ in _dims(r)) or "k"
        cin = "(C_in/g)" if g > 1 else "C_in"
        cin_n = f"({c_in}/{g})" if g > 1 else str(c_in)
        formula = f"{cin} · C_out · {k_sym}" + (" + C_out" if bias else "")
        numbers = f"{cin_n} · {c_out} · {k}" + (f" + {bias}" if bias else "")
        return _two_lines(formula, f"{numbers} = {number_text(r.params)}")
    if kind == "linear" and r.input_shape and r.output_shape:
        n_in, n_out = r.input_shape[-1], r.output_shape[-1]
        bias = r.params - n_in * n_out
        return _two_lines(
            f"in · out{' + out' if bias else ''}",
            f"{n_in} · {n_out}{f' + {bias}' if bias else ''} = {number_text(r.params)}",
        )
    if kind == "norm" and r.params:
        c = r.output_shape[1] if r.output_shape else r.params // 2
        return f"<code>2 · C = 2 · {c} = {number_text(r.params)}</code> " + t(
            "(scale γ and shift β per channel; the running mean and variance are not trained)",
            "(채널마다 γ, β; 이동 평균·분산은 학습되지 않음)",
        )
    if r.params:
        return f"<code>{number_text(r.params)}</code>"
    return "0 " + t("(no weights)", "(가중치 없음)")


def macs_formula(r: LayerRecord) -> str:
    kind = kind_of(r)
    out = r.output_shape or []
    if kind == "conv" and r.kernel and r.input_shape:
        weights = r.input_shape[1] // r.groups * out[1] * math.prod(r.kernel)
        if is_transposed(r):  # every input pixel meets every weight once (the record's own count)
            sides, label = r.input_shape[2:], t("textbook: weights × input positions", "교과서: 가중치 × 입력 위치 수")
        else:
            sides, label = out[2:], t("textbook: weights × output positions", "교과서: 가중치 × 출력 위치 수")
        textbook = weights * math.prod(sides)
        text = label + _two_lines(
            "", f"{number_text(weights)} · {' · '.join(map(str, sides))} = {number_text(textbook)}"
        ).replace("= ", "", 1)
        positions = math.prod(out[2:])  # torchinfo counts every parameter at every output position
        if r.macs != textbook:
            text += (
                f"<div>{t('torchinfo (bias counted too, as in the table)', 'torchinfo (편향 포함, 표의 값)')}: "
                f"<code>{number_text(r.params)} · {number_text(positions)} = {number_text(r.macs)}</code></div>"
            )
        return text
    if kind == "linear" and r.input_shape:
        textbook = r.input_shape[-1] * out[-1]
        text = t("textbook", "교과서") + f": <code>in · out = {number_text(textbook)}</code>"
        if r.macs != textbook:
            label = t("torchinfo (bias counted too)", "torchinfo (편향 포함)")
            text += f"<div>{label}: <code>{number_text(r.macs)}</code></div>"
        return text
    if r.macs:
        return f"<code>{number_text(r.macs)}</code> " + t("(torchinfo's count)", "(torchinfo 방식)")
    return "0"


def rf_formula(r: LayerRecord, analysis: Analysis) -> str:
    """How this layer's receptive field follows from its input's."""
    if r.receptive_field is None:
        if r.input_receptive_field is None:
            return t("every unit already sees the whole input", "모든 유닛이 이미 입력 전체를 봅니다")
        return t(
            "mixes all positions (flatten, global pooling, fully connected): every unit sees the whole input",
            "모든 위치를 섞습니다 (flatten, 전역 풀링, 완전연결): 모든 유닛이 입력 전체를 봅니다",
        )
    rf, jump = r.receptive_field, r.jump
    rf_text = shape_text(rf) + ("" if r.rf_exact else " (≤)")
    jump_text = shape_text(jump)
    source = r.input_from[0] if r.input_from else ""
    if source.startswith("⊕"):
        join = next((j for j in analysis.joins if j.key == source), None)
        operands = ", ".join(o[0] for o in join.inputs) if join else "?"
        return (
            t(
                f"its input is the sum ⊕ of {escape(operands)}: the field is the union of both paths",
                f"입력이 {escape(operands)}의 합 ⊕: 두 경로의 수용 영역을 합친 것",
            )
            + f" → <code>r = {rf_text}, j = {jump_text}</code>"
        )
    r_prev, j_prev = r.input_receptive_field, r.input_jump
    if r.kernel is None or r_prev is None or j_prev is None or (r_prev == rf and j_prev == jump):
        return (
            t("unchanged (this layer works per position)", "변하지 않음 (위치마다 따로 계산)")
            + f": <code>r = {rf_text}, j = {jump_text}</code>"
        )
    lines = []
    dims = [name for name, *_ in _dims(r)] or ["H", "W"]
    same = len(set(rf)) == 1 and len(set(r_prev)) == 1 and len(set(r.kernel)) == 1 and len(set(j_prev)) == 1
    for i in range(1 if same else len(rf)):
        k = r.kernel[i]
        d = (r.dilation or [1] * len(rf))[i]
        s = r.stride[i]
        sub = "" if same else f"_{dims[i]}"
        if is_transposed(r) and s > 1:
            lines += _transposed_rf_lines(r, i, sub)
            continue
        lines.append(
            _two_lines(
                f"r{sub} = r_prev + (k − 1)·d·j_prev",
                f"{number_text(r_prev[i])} + ({k} − 1)·{d}·{number_text(j_prev[i])} = {number_text(rf[i])}",
            )
        )
        lines.append(_two_lines(f"j{sub} = j_prev · s", f"{number_text(j_prev[i])} · {s} = {number_text(jump[i])}"))
    if not r.rf_exact and r.type.startswith("Adaptive"):
        lines.append(
            t("(irregular adaptive windows: the largest window is shown)", "(불규칙한 적응형 창: 가장 큰 창 기준)")
        )
    elif not r.rf_exact and not is_transposed(r):
        lines.append(
            t(
                "(≤: units of an earlier layer differ from one another, so this is an upper bound)",
                "(≤: 앞쪽 층의 유닛들이 서로 달라서 이 값은 상한입니다)",
            )
        )
    return "".join(lines)


def _transposed_rf_lines(r: LayerRecord, i: int, sub: str) -> list[str]:
    """A transposed conv with stride s > 1: output ``o`` reads input ``(o + p − t·d) / s`` through each tap ``t``
    that divides, so a unit reads only some inputs, and which ones depends on ``o mod s``."""
    k, s, p = r.kernel[i], r.stride[i], r.padding[i]
    d = (r.dilation or [1] * len(r.kernel))[i]
    r_prev, j_prev = r.input_receptive_field[i], r.input_jump[i]
    reach = [[(o + p - t * d) // s for t in range(k) if (o + p - t * d) % s == 0] for o in range(s)]
    span = max((max(ins) - min(ins) for ins in reach if ins), default=0)
    reads = max(len(ins) for ins in reach)
    unit = r_prev + span * abs(j_prev)
    spread = t(
        f"(each output unit reads at most {reads} input unit(s), which ones depending on its position mod {s}: "
        f"units differ, and the field around every unit is at most {number_text(r.receptive_field[i])})",
        f"(출력 유닛 하나는 입력 유닛을 최대 {reads}개 읽고, 어떤 것을 읽는지는 위치 mod {s}에 따라 달라 유닛마다 "
        f"다릅니다: 모든 유닛의 수용 영역은 최대 {number_text(r.receptive_field[i])})",
    )
    return [
        _two_lines(
            f"r_unit{sub} = r_prev + (span of inputs read)·j_prev",
            f"{number_text(r_prev)} + {span}·{number_text(j_prev)} = {number_text(unit)}",
        )
        + spread,
        _two_lines(f"j{sub} = j_prev / s", f"{number_text(j_prev)} / {s} = {number_text(r.jump[i])}"),
    ]


def details_html(analysis: Analysis, key: str) -> str:
    """The details card of layer ``key`` (``name`` or ``name#k``) of ``analysis``."""
    r = analysis.by_key(key)
    kind = kind_of(r)
    in_shape, out_shape = (r.input_shape or [None])[1:], (r.output_shape or [None])[1:]
    source = ", ".join(r.input_from) or "–"
    rows = [
        (
            t("input → output", "입력 → 출력"),
            f"<code>{shape_text(in_shape, empty='–')}</code> → <code>{shape_text(out_shape, empty='–')}</code>"
            + f" <span class='muted'>({t('reads', '입력')}: {escape(source)})</span>",
        ),
    ]
    size = output_size_formula(r)
    if size:
        rows.append((t("output size", "출력 크기"), size))
    rows.append((t("parameters", "파라미터"), params_formula(r)))
    rows.append((t("MACs", "MAC 연산"), macs_formula(r)))
    rows.append((t("receptive field", "수용 영역"), rf_formula(r, analysis)))
    geometry = ""
    if r.kernel is not None:
        pad = r.padding if isinstance(r.padding, str) else shape_text(r.padding)
        geometry = f" · kernel {shape_text(r.kernel)}, stride {shape_text(r.stride)}, padding {pad}" + (
            f", groups {r.groups}" if r.groups > 1 else ""
        )
    head = (
        f"<h3><code>{escape(r.key)}</code> · {escape(r.type)}</h3>"
        f"<p class='muted'>#{r.index} · {t('kind', '종류')} {kind}{escape(geometry)}</p>"
    )
    body = "".join(f"<tr><th>{a}</th><td>{b}</td></tr>" for a, b in rows)
    return f"<div class='layer-card'>{head}<table>{body}</table></div>"


def empty_card() -> str:
    return (
        "<div class='layer-card muted'>"
        + t(
            "Click a box in the diagram (or a row of the table) to see that layer's formulas worked with its "
            "own numbers.",
            "다이어그램의 상자(또는 표의 행)를 클릭하면 그 층의 공식을 실제 숫자로 풀어 보여줍니다.",
        )
        + "</div>"
    )
