"""Lesson tab: the course notes' storyline as five short steps, each a paragraph, one live view from the other
tabs, and a question whose answer the engine checks.

A step's expected answer and its worked formula are read from the analysis records (``LayerRecord``) or the stack
comparison (``stacks.compare_stacks``), never typed in here, so the lesson cannot disagree with the tables. Plain
functions, no Gradio: ``step_html``, ``step_view``, ``check_answer``.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

from visualizer import diagram
from visualizer.analysis import analyze_model
from visualizer.diagram.bars import render_bars_svg
from visualizer.diagram.scene import FIT_WIDTH
from visualizer.records import LayerRecord
from visualizer.stacks import compare_stacks
from visualizer.views import features
from visualizer.views.architecture import share_line_html
from visualizer.views.layer_details import t
from visualizer.weight_sources import load_weights

MAX_ANSWER = 40  # characters read from the answer box


@dataclass(frozen=True)
class Answer:
    """What the engine expects: the number, and how it is worked out (the hint after a wrong answer)."""

    value: int
    work: str  # the formula with the step's own numbers, before its result: "3 · 64 · 11 · 11 + 64"
    what_en: str  # what the formula counts: "C_in · C_out · k_h · k_w + C_out (one bias per filter)"
    what_ko: str
    note: str = ""  # a comparison after the result: "(one 5×5: 102,464)"

    @property
    def formula(self) -> str:
        """The worked formula: ``3 · 64 · 11 · 11 + 64 = 23,296``."""
        return f"{self.work} = {self.value:,}" + (f"  {self.note}" if self.note else "")


@dataclass(frozen=True)
class Step:
    key: str
    title: tuple[str, str]  # (English, Korean)
    text: tuple[str, str]
    question: tuple[str, str]
    tab: str  # the tab that shows this view in full ("arch", "stacks", "features")
    model: str | None  # the Architecture tab's model for "open in its tab"
    answer: Callable[[], Answer]
    view: Callable[[], str]


# ---------------------------------------------------------------------------------------------- answers


def _record(model: str, key: str) -> LayerRecord:
    return analyze_model(model).by_key(key)


def conv_params_answer(r: LayerRecord) -> Answer:
    """A conv's parameters from its record: C_in/groups · C_out · k_h · k_w, plus C_out biases when it has them."""
    c_in, c_out = r.input_shape[1] // r.groups, r.output_shape[1]
    kh, kw = r.kernel
    weights = c_in * c_out * kh * kw
    bias = r.params - weights
    if bias not in (0, c_out):  # not a plain conv: say the engine's count without a formula that would not add up
        return Answer(r.params, "parameters", "parameters counted by the engine", "엔진이 센 파라미터 수")
    formula = f"{c_in} · {c_out} · {kh} · {kw}" + (f" + {c_out}" if bias else "")
    what_en = "C_in · C_out · k_h · k_w" + (" + C_out (one bias per filter)" if bias else " (no bias)")
    what_ko = "C_in · C_out · k_h · k_w" + (" + C_out (필터마다 편향 하나)" if bias else " (편향 없음)")
    return Answer(r.params, formula, what_en, what_ko)


def output_size_answer(r: LayerRecord) -> Answer:
    """A conv's or pool's output height: ⌊(in + 2·padding − dilation·(k − 1) − 1) / stride⌋ + 1."""
    h_in, k, s = r.input_shape[2], r.kernel[0], r.stride[0]
    p = r.padding[0] if isinstance(r.padding, list) else 0
    d = (r.dilation or [1])[0]
    value = r.output_shape[2]
    formula = f"⌊({h_in} + 2·{p} − {d}·({k} − 1) − 1) / {s}⌋ + 1"
    what = "⌊(in + 2·padding − dilation·(kernel − 1) − 1) / stride⌋ + 1"
    return Answer(value, formula, what, what)


def receptive_field_answer(r: LayerRecord) -> Answer:
    """A unit's receptive field from the one before it: r = r_prev + (k − 1)·d·j_prev."""
    r_prev, j_prev = r.input_receptive_field[0], r.input_jump[0]
    k, d = r.kernel[0], (r.dilation or [1])[0]
    value = r.receptive_field[0]
    j = int(j_prev) if float(j_prev).is_integer() else j_prev
    step = f"({k} − 1)·{j}" if d == 1 else f"({k} − 1)·{d}·{j}"
    formula = f"r = r_prev + (k − 1)·j_prev = {r_prev} + {step}"
    return Answer(
        value,
        formula,
        "the field before this layer, plus kernel − 1 jumps (a jump: the input distance between neighbouring units)",
        "이 층 앞의 수용 영역 + (커널 − 1) × 점프; 점프는 이웃한 두 유닛 사이의 입력 거리",
    )


def stack_params_answer() -> Answer:
    """Two stacked 3×3 convs, 64 → 64 channels with biases, against one 5×5 (``compare_stacks``)."""
    c = compare_stacks(kernel=3, repeat=2, in_channels=64, out_channels=64)
    stack, single = c.rows
    c_in, c_mid, k = c.in_channels, c.mid_channels, c.kernel
    work = f"2 · ({c_in} · {c_mid} · {k} · {k} + {c_mid})"
    note = f"(5×5: {c_in} · {c.out_channels} · 5 · 5 + {c.out_channels} = {single.params:,}, {c.param_ratio:.2f}×)"
    return Answer(
        stack.params,
        work,
        "per conv C_in · C_out · k · k weights + C_out biases, twice",
        "합성곱 하나에 C_in · C_out · k · k개의 가중치 + C_out개의 편향, 그것이 두 번",
        note,
    )


# ---------------------------------------------------------------------------------------------- views


def diagram_view(model: str, selected: str | None = None) -> str:
    """The model drawn as on the Architecture tab (fitted to the page, the share line above, the bars under)."""
    a = analyze_model(model)
    fold = "blocks"
    scene = diagram.build(a, fold, (), selected, max_width=FIT_WIDTH)
    return (
        f"{share_line_html(a)}<div class='diagram-scroll'>{diagram.svg.to_svg(scene, fit=True)}"
        f"{render_bars_svg(scene, a, fit=True)}</div>"
    )


def stacks_view() -> str:
    """Two 3×3 against one 5×5: what each sees, its weights per channel pair, parameters and ReLUs."""
    c = compare_stacks(kernel=3, repeat=2, in_channels=64, out_channels=64)
    stack, single = c.rows
    top = max(stack.weights_per_channel_pair, single.weights_per_channel_pair)
    rows = []
    for r, color in ((stack, "#4e79a7"), (single, "#e15759")):
        width = 100 * r.weights_per_channel_pair / top
        rows.append(
            f"<tr><th>{t(r.label, r.label.replace('conv', '합성곱'))}</th>"
            f"<td>{r.receptive_field[0]}×{r.receptive_field[1]}</td>"
            f"<td><span class='lesson-bar' style='width:{width:.0f}%;background:{color}'></span> "
            f"{r.weights_per_channel_pair}</td><td>{r.params:,}</td><td>{r.nonlinearities}</td></tr>"
        )
    head = "".join(
        f"<th>{t(en, ko)}</th>"
        for en, ko in (
            ("design", "설계"),
            ("sees", "보는 범위"),
            ("weights per channel pair", "채널 쌍당 가중치"),
            ("parameters (64 → 64)", "파라미터 (64 → 64)"),
            ("ReLUs", "ReLU 수"),
        )
    )
    return f"<table class='lesson-table' data-view='stacks'><tr>{head}</tr>{''.join(rows)}</table>"


def _img(picture: Image.Image, alt: str) -> str:
    buf = io.BytesIO()
    picture.convert("RGB").save(buf, format="PNG")
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f"<img class='lesson-img' alt='{alt}' src='data:image/png;base64,{data}'/>"


def photo_view() -> str:
    """An example photo through AlexNet: the top maps of features.3 and the strongest unit's receptive field."""
    photo = features.example_images()[0]
    grid, overlay, _text, _state = features.layer_maps(photo, "alexnet", "auto", "features.3")
    r = _record("alexnet", "features.3")
    source = load_weights("alexnet", "auto").source  # the cached load layer_maps just made
    weights = {
        "imagenet": ("ImageNet weights", "ImageNet 가중치"),
        "random": (
            "random weights (no ImageNet weights on this server): untrained filters, patterns still visible",
            "무작위 가중치 (이 서버에 ImageNet 가중치가 없음): 학습 전의 필터지만 패턴은 보입니다",
        ),
    }.get(source, ("the weights of this server's training run", "이 서버에서 학습한 가중치"))
    caption = t(
        f"Top 8 of AlexNet's {r.output_shape[1]} maps of features.3 (bright: the filter's pattern is there) · "
        f"right: what its strongest unit sees, a {r.receptive_field[0]}×{r.receptive_field[1]} square",
        f"AlexNet features.3의 맵 {r.output_shape[1]}개 중 상위 8개 (밝을수록 필터의 패턴이 있는 곳) · "
        f"오른쪽: 가장 강한 유닛이 보는 {r.receptive_field[0]}×{r.receptive_field[1]} 정사각형",
    )
    return (
        f"<div class='lesson-photo' data-view='photo' data-weights='{source}'>"
        f"{_img(grid, 'feature maps')}{_img(overlay, 'receptive field')}</div>"
        f"<p class='muted'>{caption}<br>{t('Weights', '가중치')}: {t(*weights)}</p>"
    )


# ---------------------------------------------------------------------------------------------- the steps


STEPS: list[Step] = [
    Step(
        "vgg",
        ("VGG-16: a stack of small convs", "VGG-16: 작은 합성곱을 쌓은 네트워크"),
        (
            "A CNN is a pipeline of layers. In VGG-16 every conv is 3×3 with padding 1, so it keeps the map's height "
            "and width; every 2×2 max-pool halves them while the channels double (64 → 128 → 256 → 512). At the end "
            "three fully-connected (FC) layers turn the 512×7×7 maps into 1000 class scores. Read the line above the "
            "drawing: the FC layers hold most of the weights, the convs do almost all of the work.",
            "CNN은 층을 차례로 지나가는 파이프라인입니다. VGG-16의 합성곱은 모두 패딩 1의 3×3이라 맵의 높이와 너비를 "
            "그대로 두고, 2×2 최대 풀링은 그것을 절반으로 줄이며 채널은 두 배가 됩니다 (64 → 128 → 256 → 512). 끝의 "
            "완전연결(FC) 층 세 개가 512×7×7 맵을 1000개 클래스 점수로 바꿉니다. 그림 위의 줄을 읽어 보세요: 가중치는 "
            "대부분 FC 층에 있고, 연산은 거의 모두 합성곱이 합니다.",
        ),
        (
            "The input is 224×224. What height (= width) does features.4, the first max-pool, output?",
            "입력은 224×224입니다. 첫 번째 최대 풀링 features.4의 출력 높이(= 너비)는 얼마일까요?",
        ),
        "arch",
        "vgg16",
        lambda: output_size_answer(_record("vgg16", "features.4")),
        lambda: diagram_view("vgg16", "features.4"),
    ),
    Step(
        "stacks",
        ("Why 3×3: two small convs see as far as one 5×5", "왜 3×3인가: 작은 합성곱 두 개는 5×5 하나만큼 봅니다"),
        (
            "Two stacked 3×3 convs see a 5×5 patch of their input, the same as one 5×5 conv, but with 2·9 = 18 "
            "weights per channel pair instead of 25, and with a ReLU in between: cheaper and more expressive. That is "
            "why VGG uses 3×3 kernels only.",
            "3×3 합성곱 두 개를 쌓으면 입력의 5×5 영역을 봅니다. 5×5 합성곱 하나와 같은 범위지만, 채널 쌍당 가중치는 "
            "25개가 아니라 2·9 = 18개이고, 사이에 ReLU가 하나 더 들어갑니다: 더 싸고 표현력은 더 큽니다. 그래서 "
            "VGG는 3×3 커널만 씁니다.",
        ),
        (
            "With 64 channels in and out, biases included: how many parameters do the two stacked 3×3 convs have?",
            "입력·출력 채널이 64개이고 편향을 포함할 때, 3×3 합성곱 두 개를 쌓은 것의 파라미터 수는?",
        ),
        "stacks",
        None,
        stack_params_answer,
        stacks_view,
    ),
    Step(
        "alexnet",
        ("AlexNet: where the weights are", "AlexNet: 가중치는 어디에 있나"),
        (
            "AlexNet (2012) opens with a large 11×11 conv of stride 4 on the 3 colour channels. Each of its 64 "
            "filters has 3·11·11 weights and one bias. All its convs together are only a few percent of AlexNet's 61 "
            "million parameters: the FC layers hold the rest, while the convs do most of the work.",
            "AlexNet(2012)은 색 채널 3개 위의 스트라이드 4인 큰 11×11 합성곱으로 시작합니다. "
            "필터 64개는 각각 3·11·11개의 가중치와 편향 하나를 가집니다. "
            "합성곱을 모두 합해도 AlexNet 파라미터 6100만 개의 몇 퍼센트에 불과하고, "
            "나머지는 FC 층에 있습니다. 연산은 대부분 합성곱이 합니다.",
        ),
        (
            "How many parameters (weights and biases) does features.0 of AlexNet have?",
            "AlexNet의 features.0에는 파라미터(가중치와 편향)가 몇 개 있을까요?",
        ),
        "arch",
        "alexnet",
        lambda: conv_params_answer(_record("alexnet", "features.0")),
        lambda: diagram_view("alexnet", "features.0"),
    ),
    Step(
        "resnet",
        ("ResNet-18: the shortcut", "ResNet-18: 지름길 연결"),
        (
            "Very deep plain stacks train badly. ResNet adds each block's input back to its output (the arcs: "
            "out = F(x) + x), so a block only learns a correction and the gradient flows back through the shortcut. "
            "Where a block halves the map and doubles the channels, the shortcut is a 1×1 conv of stride 2 (dashed, "
            "red) so that the two sides can be added.",
            "그냥 깊게 쌓기만 한 네트워크는 학습이 잘 되지 않습니다. ResNet은 블록의 입력을 출력에 다시 더합니다 (호: "
            "out = F(x) + x). 그래서 블록은 보정만 배우면 되고, 기울기는 지름길을 따라 거꾸로 흐릅니다. 블록이 맵을 "
            "절반으로 줄이고 채널을 두 배로 늘리는 곳에서는, 두 쪽을 더할 수 있도록 지름길이 "
            "스트라이드 2인 1×1 합성곱이 됩니다 (빨간 점선).",
        ),
        (
            "layer2.0's shortcut conv (layer2.0.downsample.0) maps 64 channels to 128 with a 1×1 kernel and no bias. "
            "How many weights does it have?",
            "layer2.0의 지름길 합성곱(layer2.0.downsample.0)은 편향 없이 1×1 커널로 64채널을 128채널로 바꿉니다. "
            "가중치는 몇 개일까요?",
        ),
        "arch",
        "resnet18",
        lambda: conv_params_answer(_record("resnet18", "layer2.0.downsample.0")),
        lambda: diagram_view("resnet18", "layer2.0.downsample.0"),
    ),
    Step(
        "photo",
        ("What a conv layer sees in a photo", "합성곱 층은 사진에서 무엇을 보나"),
        (
            "Put a photo through AlexNet: each map is one filter's response, bright where its pattern is found. A unit "
            "of a map looks at a square of the input, its receptive field (the box on the photo), which grows layer "
            "by layer: r = r_prev + (k − 1)·j_prev, where the jump j is the input distance between two neighbouring "
            "units (the product of the strides so far).",
            "사진을 AlexNet에 넣어 봅시다. 맵 하나는 필터 하나의 반응으로, 그 패턴이 있는 곳이 밝습니다. "
            "맵의 유닛 하나는 입력의 정사각형 하나를 보는데, 이것이 수용 영역(사진 위의 상자)이며 "
            "층마다 커집니다: r = r_prev + (k − 1)·j_prev. "
            "점프 j는 이웃한 두 유닛 사이의 입력 거리입니다 (지금까지의 스트라이드의 곱).",
        ),
        (
            "How many input pixels wide is the receptive field of one unit of features.3 (AlexNet's second conv)?",
            "features.3(AlexNet의 두 번째 합성곱)의 유닛 하나의 수용 영역은 입력 픽셀 몇 개 너비일까요?",
        ),
        "features",
        None,
        lambda: receptive_field_answer(_record("alexnet", "features.3")),
        photo_view,
    ),
]


def _step(index: int) -> Step:
    if not 0 <= index < len(STEPS):
        raise ValueError(f"step {index + 1} is not in the lesson (steps 1 to {len(STEPS)})")
    return STEPS[index]


def step_choices() -> list[tuple[str, int]]:
    """The step picker's choices: "1 · title" (both languages; the page shows one)."""
    return [(f"{i + 1}", i) for i in range(len(STEPS))]


def step_html(index: int) -> str:
    """A step's title, paragraph and question (English and Korean)."""
    s = _step(int(index))
    n = len(STEPS)
    head = t(f"Step {index + 1} of {n} · {s.title[0]}", f"{n}단계 중 {index + 1}단계 · {s.title[1]}")
    return (
        f"<div class='lesson-step' data-step='{s.key}'><h3>{head}</h3><p>{t(*s.text)}</p>"
        f"<p class='lesson-q'><b>{t('Question', '질문')}:</b> {t(*s.question)}</p></div>"
    )


def step_view(index: int) -> str:
    """The step's live view (HTML): a diagram, the stack comparison, or a photo's maps."""
    s = _step(int(index))
    return f"<div class='lesson-view' data-step='{s.key}'>{s.view()}</div>"


def expected(index: int) -> Answer:
    """The number step ``index``'s question asks for, read from the records."""
    return _step(int(index)).answer()


_NUMBER = re.compile(r"^\d+$")


def parse_number(typed: str) -> int:
    """A typed whole number: ``23,296``, ``23 296``, ``112x112`` (a square's side), ``51 px``; ``ValueError`` with
    what was typed and what would work otherwise."""
    text = (typed or "").strip()[:MAX_ANSWER]
    cleaned = re.sub(r"(?i)\s*(px|pixels?|픽셀|개)$", "", text).replace(",", "").replace("_", "").replace(" ", "")
    parts = re.split(r"[x×*]", cleaned.lower())
    if not cleaned or not all(_NUMBER.match(p) for p in parts) or len(set(parts)) != 1:
        raise ValueError(f"type a whole number, like 23296 or 23,296 (got {text!r})")
    return int(parts[0])


def check_answer(index: int, typed: str) -> tuple[bool | None, str]:
    """``(right?, feedback HTML)``; ``None`` when nothing readable was typed (the feedback says what would work)."""
    answer = expected(index)
    if not (typed or "").strip():
        return None, t("Type your answer in the box first.", "먼저 상자에 답을 입력하세요.")
    try:
        value = parse_number(typed)
    except ValueError as exc:
        shown = typed.strip()[:MAX_ANSWER]
        return None, t(str(exc).capitalize(), f"정수 하나를 입력하세요. 예: 23296 또는 23,296 (입력: {shown!r})")
    if value == answer.value:
        return True, (
            f"<div class='lesson-right'>✔ {t('Right', '정답')}: <code>{answer.formula}</code> "
            f"— {t(answer.what_en, answer.what_ko)}</div>"
        )
    tried = t(f"Not quite: you typed {value:,}.", f"아쉽습니다. 입력한 값: {value:,}.")
    return False, (
        f"<div class='lesson-wrong'>✘ {tried} {t('Hint: work it out', '힌트: 계산해 보세요')}: "
        f"<code>{answer.work} = ?</code> — {t(answer.what_en, answer.what_ko)}</div>"
    )
