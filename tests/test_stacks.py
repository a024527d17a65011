"""The stack comparison: numbers from real nn.Conv2d stacks, checked against the closed-form counts."""

from __future__ import annotations

import dataclasses

import pytest

from visualizer.analysis import AnalysisError
from visualizer.stacks import compare_stacks


def _conv_params(c_in: int, c_out: int, k: int) -> int:
    return c_in * c_out * k * k + c_out


@pytest.mark.parametrize(
    "kernel, repeat, per_pair_stack, per_pair_single, field",
    [
        (3, 2, 18, 25, 5),  # two 3×3 vs one 5×5 (the VGG paper's argument)
        (3, 3, 27, 49, 7),  # three 3×3 vs one 7×7
        (5, 2, 50, 81, 9),
        (2, 3, 12, 16, 4),  # even kernels: K = n(k−1)+1 still holds
    ],
)
def test_weights_fields_and_nonlinearities(kernel, repeat, per_pair_stack, per_pair_single, field):
    cmp = compare_stacks(kernel=kernel, repeat=repeat, in_channels=8)
    stack, single = cmp.rows
    assert cmp.big_kernel == repeat * (kernel - 1) + 1
    assert (stack.weights_per_channel_pair, single.weights_per_channel_pair) == (per_pair_stack, per_pair_single)
    assert stack.receptive_field == single.receptive_field == [field, field]
    assert (stack.nonlinearities, single.nonlinearities) == (repeat, 1)


def test_params_and_macs_per_position_for_any_widths():
    cmp = compare_stacks(kernel=3, repeat=3, in_channels=16, mid_channels=24, out_channels=40, input_size=20)
    stack, single = cmp.rows
    expected_stack = _conv_params(16, 24, 3) + _conv_params(24, 24, 3) + _conv_params(24, 40, 3)
    expected_single = _conv_params(16, 40, 7)
    assert (stack.params, single.params) == (expected_stack, expected_single)
    # torchinfo's convention: one multiply-add per weight and bias per output position
    assert (stack.macs_per_position, single.macs_per_position) == (expected_stack, expected_single)
    assert (stack.macs, single.macs) == (expected_stack * 20 * 20, expected_single * 20 * 20)
    assert cmp.param_ratio == pytest.approx(expected_single / expected_stack)
    assert cmp.to_dict()["rows"][0]["params"] == expected_stack


def test_huge_widths_stay_shape_only():
    cmp = compare_stacks(kernel=3, repeat=4, in_channels=4096)  # a 9×9 4096-wide conv: 5.4 GB if allocated
    assert cmp.rows[1].params == _conv_params(4096, 4096, 9)


@pytest.mark.parametrize(
    "kwargs",
    [{"kernel": 0}, {"repeat": 0}, {"in_channels": -1}, {"kernel": 2.5}, {"out_channels": 0}, {"input_size": 0}],
)
def test_bad_arguments(kwargs):
    with pytest.raises(AnalysisError):
        compare_stacks(**kwargs)


def test_textbook_macs_per_position_teach_the_lesson():
    # Two 3×3 convs at 64 → 64 channels: 2·3·3·64·64 multiply-adds per output position; one 5×5: 5·5·64·64.
    stack, single = compare_stacks(kernel=3, repeat=2, in_channels=64).rows
    assert stack.textbook_macs_per_position == 2 * 3 * 3 * 64 * 64 == 73_728
    assert single.textbook_macs_per_position == 5 * 5 * 64 * 64 == 102_400
    assert (stack.textbook_macs, single.textbook_macs) == (73_728 * 32 * 32, 102_400 * 32 * 32)
    # torchinfo's per-position count adds one per bias: 64 per conv
    assert (stack.macs_per_position, single.macs_per_position) == (73_728 + 2 * 64, 102_400 + 64)


def test_a_comparison_asked_again_is_the_same_one_and_a_refused_value_stays_refused():
    first = compare_stacks(kernel=3, repeat=2, in_channels=64, out_channels=64)
    assert compare_stacks(kernel=3, repeat=2, in_channels=64, out_channels=64) is first  # shared, not rebuilt
    assert compare_stacks(kernel=3, repeat=3, in_channels=64, out_channels=64).rows[0].params == 3 * (9 * 64 * 64 + 64)
    with pytest.raises(AnalysisError, match="repeat must be an integer"):
        compare_stacks(kernel=3, repeat=True, in_channels=64)  # True == 1 as a cache key, refused all the same
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.rows[0].params = 0  # a shared answer cannot be changed by one of its readers
