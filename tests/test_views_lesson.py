"""The Lesson tab's steps (``visualizer/views/lesson.py``): each question's checker against numbers worked out here
by hand or from torchvision's own modules, with a right and a wrong answer; typed forms it reads and refuses; each
step's view.
"""

from __future__ import annotations

import re

import pytest
import torch
import torchvision
from torch import nn

from visualizer.views import lesson


def _meta(builder) -> nn.Module:
    with torch.device("meta"):
        return builder()


def _numel(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# Expected answers, independent of the engine: by hand and from the torchvision modules.
ALEXNET = _meta(torchvision.models.alexnet)
RESNET18 = _meta(torchvision.models.resnet18)
EXPECTED = {
    "vgg": (224 - 2) // 2 + 1,  # VGG-16's first max-pool: kernel 2, stride 2, no padding → 112
    "stacks": 2 * (64 * 64 * 3 * 3 + 64),  # two 3×3 convs 64 → 64 with biases = 73,856
    "alexnet": 3 * 64 * 11 * 11 + 64,  # 23,296
    "resnet": 64 * 128 * 1 * 1,  # a 1×1 projection without bias = 8,192
    # AlexNet: conv 11 /4 → r 11, j 4; max-pool 3 /2 → r 11 + 2·4 = 19, j 8; conv 5 → r 19 + 4·8 = 51
    "photo": 11 + (3 - 1) * 4 + (5 - 1) * 8,
}


def test_the_lesson_has_five_steps_in_the_notes_order():
    assert [s.key for s in lesson.STEPS] == ["vgg", "stacks", "alexnet", "resnet", "photo"]
    assert {s.tab for s in lesson.STEPS} <= {"arch", "stacks", "features"}


def test_the_hand_counts_agree_with_torchvision():
    assert _numel(ALEXNET.features[0]) == EXPECTED["alexnet"] == 23_296
    assert _numel(RESNET18.layer2[0].downsample[0]) == EXPECTED["resnet"] == 8_192
    assert EXPECTED["vgg"] == 112 and EXPECTED["stacks"] == 73_856 and EXPECTED["photo"] == 51


@pytest.mark.parametrize("index, key", list(enumerate(EXPECTED)))
def test_each_step_expects_the_independent_number_and_checks_right_and_wrong(index, key):
    answer = lesson.expected(index)
    assert answer.value == EXPECTED[key]
    right, feedback = lesson.check_answer(index, str(EXPECTED[key]))
    assert right is True and f"{EXPECTED[key]:,}" in feedback
    wrong, hint = lesson.check_answer(index, str(EXPECTED[key] + 1))
    assert wrong is False
    # The hint is the worked formula with this step's own numbers, its result left to the student.
    assert f"{answer.work} = ?" in hint and f"= {EXPECTED[key]:,}" not in hint
    assert 'class="en"' in hint and 'class="ko"' in hint


def test_the_worked_formulas_add_up():
    # Each formula, evaluated as arithmetic, is the number it claims.
    for index in range(len(lesson.STEPS)):
        answer = lesson.expected(index)
        work = answer.work.split("=")[-1]  # "r = r_prev + (k − 1)·j_prev = 19 + (5 − 1)·8" → its numbers
        expr = work.replace("·", "*").replace("−", "-").replace("/", "//").replace("⌊", "(").replace("⌋", ")")
        assert eval(expr, {}) == answer.value, answer.work  # our own digits and operators


def test_the_alexnet_formula_reads_the_layers_shape():
    assert lesson.expected(2).formula == "3 · 64 · 11 · 11 + 64 = 23,296"
    assert lesson.expected(3).formula == "64 · 128 · 1 · 1 = 8,192"  # no bias: no "+ C_out"


@pytest.mark.parametrize(
    "typed, value",
    [("23296", 23296), ("23,296", 23296), (" 23 296 ", 23296), ("112x112", 112), ("112×112", 112), ("51 px", 51)],
)
def test_typed_forms_it_reads(typed, value):
    assert lesson.parse_number(typed) == value


@pytest.mark.parametrize("typed", ["abc", "12.5", "112x56", "-3", "1e5", "x"])
def test_typed_forms_it_refuses_in_one_line_saying_what_would_work(typed):
    with pytest.raises(ValueError, match=re.escape(repr(typed))) as info:
        lesson.parse_number(typed)
    assert "whole number" in str(info.value) and "\n" not in str(info.value)
    right, feedback = lesson.check_answer(2, typed)
    assert right is None and "23296" in feedback  # the example of what would work, not an error page


def test_an_empty_answer_asks_for_one_and_a_long_one_is_cut():
    assert lesson.check_answer(0, "  ")[0] is None
    assert lesson.check_answer(2, "2" * 10_000)[0] is False  # read up to MAX_ANSWER characters, never more


def test_a_step_outside_the_lesson_says_which_exist():
    with pytest.raises(ValueError, match=r"step 7 is not in the lesson \(steps 1 to 5\)"):
        lesson.step_html(6)


@pytest.mark.parametrize("index", range(5))
def test_each_step_shows_its_paragraph_question_and_view_in_both_languages(index):
    text, view = lesson.step_html(index), lesson.step_view(index)
    step = lesson.STEPS[index]
    assert f"data-step='{step.key}'" in text and f"data-step='{step.key}'" in view
    assert text.count('class="en"') == text.count('class="ko"') >= 3  # title, paragraph, question
    expected_markup = {
        "vgg": 'class="cnn-diagram"',
        "stacks": "data-view='stacks'",
        "alexnet": 'class="cnn-diagram"',
        "resnet": 'class="skip projection"',
        "photo": "data:image/png;base64,",
    }[step.key]
    assert expected_markup in view


def test_the_stacks_view_shows_the_engines_numbers():
    view = lesson.stacks_view()
    # 2·3·3 = 18 vs 5·5 = 25 weights per channel pair; 73,856 vs 64·64·25 + 64 = 102,464 parameters
    for number in ("18", "25", "73,856", f"{64 * 64 * 25 + 64:,}", "5×5"):
        assert number in view
