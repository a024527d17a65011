"""The layer card (``visualizer.views.layer_details``): every worked formula is arithmetic that holds, with the
record's own numbers; a transposed convolution gets its own formulas."""

from __future__ import annotations

import re

import pytest
from torch import nn

from visualizer.analysis import analyze
from visualizer.views.layer_details import details_html


def _english(html: str) -> str:
    return re.sub(r'<span class="ko">.*?</span>', "", html)


def _worked(html: str) -> list[tuple[str, int]]:
    """Each ``<code>= expression = answer</code>`` (or ``expression = answer``) of the card, as (expr, answer)."""
    out = []
    for code in re.findall(r"<code>(.*?)</code>", html):
        text = code.removeprefix("= ").replace(",", "")
        if not re.fullmatch(r"[\d\s·+−()/=.-]+", text) or text.count("=") != 1:
            continue
        expr, answer = text.split("=")
        out.append((expr.replace("·", "*").replace("−", "-"), float(answer)))
    return out


def _transposed_net(output_padding: int = 0) -> nn.Module:
    # 64 → 32 → 16, then a stride-2 transposed conv back up: its input field is 7 (jump 4)
    k = 4 if output_padding == 0 else 3
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1),
        nn.Conv2d(8, 8, 3, stride=2, padding=1),
        nn.ConvTranspose2d(8, 4, k, stride=2, padding=1, output_padding=output_padding),
    )


@pytest.mark.parametrize("output_padding", [0, 1])
def test_a_stride_2_transposed_conv_card_works_its_own_formulas(output_padding):
    a = analyze(_transposed_net(output_padding), (3, 64, 64))
    r = a.layer("2")
    html = _english(details_html(a, "2"))
    k = r.kernel[0]
    # by hand: out = (in − 1)·s − 2p + d·(k − 1) + output_padding + 1
    assert r.output_shape[2] == (16 - 1) * 2 - 2 * 1 + 1 * (k - 1) + output_padding + 1 == 32
    assert "(H_in − 1)·s − 2·p + d·(k−1)" in html
    assert f"(16 − 1)·2 − 2·1 + 1·({k}−1)" + (" + 1" if output_padding else "") + " + 1 = 32" in html
    assert "ceil" not in html and "⌊" not in html
    # MACs: every input pixel meets every weight once: the record's own count, not weights × output positions
    weights = 8 * 4 * k * k
    assert r.textbook_macs == weights * 16 * 16
    assert "weights × input positions" in html and f"{weights * 16 * 16:,}" in html
    assert f"{weights * 32 * 32:,}" not in html
    # receptive field: the jump divides by the stride; each unit reads 2 neighbouring inputs (k = 4, s = 2)
    # or 1–2 (k = 3): 7 + 1·4 = 11 pixels; units differ, so the record's field is a bound
    assert r.input_receptive_field == [7, 7] and r.input_jump == [4, 4] and r.jump == [2, 2]
    assert "4 / 2 = 2" in html
    assert "7 + 1·4 = 11" in html and f"at most {r.receptive_field[0]}" in html and not r.rf_exact
    assert "adaptive" not in html
    worked = _worked(html)
    assert len(worked) >= 5
    for expr, answer in worked:  # each left side equals its answer (17 = "≤ 15" cannot happen)
        assert eval(expr) == answer, (expr, answer)  # digits and operators only (checked above)


def test_an_ordinary_conv_card_is_unchanged_and_holds():
    a = analyze(nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.MaxPool2d(3, 2, ceil_mode=True)), (3, 32, 32))
    conv = _english(details_html(a, "0"))
    assert "⌊(32 + 2·1 − 1·(3−1) − 1) / 2⌋ + 1 = 16" in conv and "weights × output positions" in conv
    pool = _english(details_html(a, "1"))
    assert "ceil mode → 8" in pool  # ⌊(16 − 3)/2⌋ + 1 = 7, rounded up: 8
    for expr, answer in _worked(conv):
        assert eval(expr) == answer
