"""How the page runs a handler: its errors as readable pop-ups, its images as files, and the queue it waits in.

Handlers themselves are plain functions in ``visualizer.views`` (and thin adapters in each tab's module); these
pieces are what every tab wraps them in.
"""

from __future__ import annotations

import contextvars
import functools
import html
import inspect
import os
import re
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import gradio as gr

from visualizer.budgets import cpu, outputs
from visualizer.budgets.allocator import release_freed_memory
from visualizer.ui import wire
from visualizer.views.layer_details import is_bilingual, t

# Two queues: work that may run a network (feature maps, a clicked layer's maps) shares one group; answers computed
# from the records (analyze, details, stacks, compare) have their own, wider limits and never wait behind it. The
# network group takes four requests at once: one may be running its forward pass (the process's one forward slot,
# ``budgets.memory.ForwardSlot``) while the others answer from passes already kept (their pictures drawn once, then
# shared); two forwards never run at once. With two, a class's answers from kept passes queued behind each new photo:
# under 8 students (``bench/bench_load.py``) four took feature maps' p95 from 0.80 to 0.69 s, 28.5 to 33.7 answers/s.
NETWORK = {"concurrency_id": "network", "concurrency_limit": 4}
LIGHT = {"concurrency_limit": 4}
# The page's answers from the records (a click's card, an analysis, the stacks, a comparison) skip the queue
# altogether (``queue=False``, Gradio's documented switch): the page asks with one ``POST /gradio_api/run/…`` and
# reads the answer from its response, where a queued event costs a ``queue/join``, the session's event stream and
# the queue's bookkeeping (``Queue.process_events``), all on the one event loop every student's request passes
# through. An echo measured both ways in one process: 1.7 ms a round trip and 1.6 ms of server CPU direct, against
# 4.6 and 4.9 ms queued. Gradio 6.31's page shows no pop-up for such an event's ``gr.Error`` (its client drops the
# error's ``visible``: the outputs get an "Error" badge and no text), so a refusal is said in the page itself: in the
# card's panel (``said_in_place``), or in a slot under the tab's controls (``said_beside``, ``refusal_slot``).
# Scripts keep endpoints of their own under the documented names (``analyze``, ``compare_stacks``, …), queued
# (``LIGHT``'s limit holds for them) and refusing with an error, as a caller expects.
DIRECT = {"queue": False}
# Queues order requests; the CPU is shared all the same. Forward passes run on threads of their own at the lowest
# priority of the server's (``budgets.cpu``: a training run first, then answers from the records, then passes), so
# a feature-maps request takes what is left when the others want the cores. The threads torch starts for a pass
# inherit it.


def _lower_priority() -> None:
    cpu.set_thread_nice(cpu.NETWORK_NICE)


_network_thread = ThreadPoolExecutor(
    NETWORK["concurrency_limit"], thread_name_prefix="cnnviz-network", initializer=_lower_priority
)


def on_network_thread(fn: Callable) -> Callable:
    """``fn`` run on the low-priority network thread (with the caller's context: Gradio's request, progress)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return _network_thread.submit(contextvars.copy_context().run, fn, *args, **kwargs).result()

    return wrapper


def network_at_low_priority(demo: gr.Blocks) -> int:
    """Move every event of the ``network`` queue onto the low-priority threads (as many as the queue runs at once);
    returns how many."""
    moved = 0
    for block_fn in demo.fns.values():
        fn = block_fn.fn
        plain = fn is not None and not (inspect.iscoroutinefunction(fn) or inspect.isgeneratorfunction(fn))
        if block_fn.concurrency_id == NETWORK["concurrency_id"] and plain:
            block_fn.fn = on_network_thread(fn)
            moved += 1
    return moved


# The messages a class meets most, in Korean (by their English form; a pop-up may carry HTML, so it carries both
# languages as the page's other bilingual text does). Others stay as they are.
MESSAGES_KO = [
    (
        r"^no image yet: upload one \(JPEG, PNG, WebP, GIF …\) or click an example below the upload box$",
        "아직 이미지가 없습니다: 이미지(JPEG, PNG, WebP, GIF …)를 올리거나 올리기 상자 아래의 예시를 클릭하세요",
    ),
    (r"^show the feature maps first, then click a map$", "먼저 특징 맵을 보인 뒤 맵을 클릭하세요"),
    (
        r"^that image was not uploaded to this server; upload it \(JPEG, PNG, WebP, GIF …\) or click an example "
        r"below the upload box$",
        "이 이미지는 이 서버에 올린 것이 아닙니다; 이미지(JPEG, PNG, WebP, GIF …)를 올리거나 올리기 상자 아래의 예시를 "
        "클릭하세요",
    ),
    (
        r"^that click is between the maps; click inside one of the coloured maps$",
        "맵 사이를 클릭했습니다; 색칠된 맵 안을 클릭하세요",
    ),
    (r"^pick at least two models to compare \(got (\d+)\)$", r"비교할 모델을 두 개 이상 고르세요 (지금 \1개)"),
    (
        r"^at most (\d+) models at once \(got (\d+)\); remove some$",
        r"한 번에 모델 \1개까지입니다 (지금 \2개); 몇 개를 빼세요",
    ),
    (
        r"^no model chosen; pick one from the list or type a config like (.+)$",
        r"모델을 고르지 않았습니다; 목록에서 고르거나 \1 같은 구성을 입력하세요",
    ),
    (
        r"^analyse a model first \(pick one and press Analyze\)$",
        "먼저 모델을 분석하세요 (모델을 고르고 분석을 누르세요)",
    ),
    (
        r"^kernel (\d+) is even; use an odd kernel \(1, 3, 5, 7 …\) so the layer keeps a centre pixel$",
        r"커널 \1: 짝수입니다; 가운데 픽셀이 남도록 홀수 커널(1, 3, 5, 7 …)을 쓰세요",
    ),
    (r"^unknown model (.+?); valid names: (.*)$", r"알 수 없는 모델 \1; 쓸 수 있는 이름: \2"),
    (
        r"^input size (.+?) is not understood; write CxHxW, HxW or one side, e\.g\. 3x224x224 or 224$",
        r"입력 크기 \1을(를) 알 수 없습니다; CxHxW, HxW 또는 한 변으로 쓰세요 (예: 3x224x224 또는 224)",
    ),
    (
        r"^input size (.+?) has a zero or negative dimension; every size must be ≥ 1, e\.g\. 3x224x224$",
        r"입력 크기 \1에 0 이하인 차원이 있습니다; 모든 크기는 1 이상이어야 합니다 (예: 3x224x224)",
    ),
    (
        r"^a training run is already (\w+) \((.*)\); stop it before starting another(?:, or queue it)?$",
        r"학습이 이미 진행 중입니다 (\1: \2); 다른 학습을 시작하기 전에 중지하거나 대기열에 넣으세요",
    ),
    (r"^(.+) must be a whole number, got (.+)$", r"\1: 정수여야 합니다 (입력: \2)"),
    (r"^(.+) must be from (.+) to (.+), got (.+)$", r"\1: \2에서 \3 사이여야 합니다 (입력: \4)"),
    (
        r"^(.+) is empty or not a number \((.*)\); enter a value from (.+) to (.+)$",
        r"\1: 비었거나 숫자가 아닙니다 (입력: \2); \3에서 \4 사이의 값을 넣으세요",
    ),
]
FIELDS_KO = {  # the fields those messages name (views.training.make_config, views.stacks)
    "Epochs": "에폭 수",
    "Batch size": "배치 크기",
    "Learning rate": "학습률",
    "Training images": "학습 이미지 수",
    "Weight decay": "가중치 감쇠",
    "Seed": "시드",
    "Channels shown": "표시할 채널 수",
    "kernel": "커널",
    "repeats": "쌓는 합성곱의 개수",
    "input channels": "입력 채널 수",
    "output channels": "출력 채널 수",
}


def page_message(message: str) -> str:
    """A handler's message for the page's pop-up: in both languages (``t``) when it has a Korean form, else as it
    is."""
    for pattern, korean in MESSAGES_KO:
        if re.match(pattern, message):
            ko = re.sub(pattern, korean, message, count=1)
            field, colon, rest = ko.partition(": ")
            ko = FIELDS_KO[field] + colon + rest if colon and field in FIELDS_KO else ko
            return t(html.escape(message, quote=False), html.escape(ko, quote=False))
    return message


def friendly(fn: Callable, release_memory: bool = False) -> Callable:
    """Turn the handlers' plain exceptions into a readable message in the page (the server keeps serving), and
    their images into files that no concurrent reply can truncate."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            result = outputs.as_files(fn(*args, **kwargs))  # images as files of their own: see budgets.outputs
            if release_memory:  # after a forward pass: give what it freed back to the system
                release_freed_memory()
            return result
        except gr.Error:
            raise
        except (ValueError, RuntimeError, OSError, KeyError) as exc:
            raise gr.Error(
                page_message(without_server_paths(str(exc).strip()) or exc.__class__.__name__), duration=None
            ) from exc

    return wrapper


def said_in_place(fn: Callable, outputs: int, at: int = 0) -> Callable:
    """``friendly(fn)`` for a ``DIRECT`` event: a refusal becomes output ``at``'s value, the page's message (in both
    languages where it has them) in a box of its own; the other ``outputs - 1`` outputs keep what they show."""
    handler = friendly(fn)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> tuple:
        try:
            return handler(*args, **kwargs)
        except gr.Error as exc:
            # a message with a Korean form is already HTML (``t``, its texts escaped); any other is text
            message = exc.message if is_bilingual(exc.message) else html.escape(exc.message, False)
            answer: list[Any] = [gr.skip()] * outputs
            answer[at] = f'<div class="said-in-place" role="alert">{message}</div>'
            return tuple(answer)

    return wrapper


def said_beside(fn: Callable, outputs: int) -> Callable:
    """``said_in_place`` for an answer of ``outputs`` values with a message slot of its own after them (the tab's
    ``refusal_slot``): emptied by each answer, the refusal there otherwise, the ``outputs`` keeping what they show."""

    @functools.wraps(fn)
    def answered(*args: Any, **kwargs: Any) -> tuple:
        return (*fn(*args, **kwargs), "")

    return said_in_place(answered, outputs + 1, at=outputs)


def in_page_and_for_scripts(
    triggers: list, fn: Callable, inputs: list, outputs: list, said: gr.HTML, api_name: str, **page: Any
) -> Any:
    """An answer from the records, registered twice: the page's event on ``triggers`` (``<api_name>_in_page``:
    ``DIRECT``, its refusal said in ``said``, ``page``'s further keywords), and scripts' ``api_name`` endpoint beside
    it (no trigger; queued with ``LIGHT``'s limit, refusing with an error). Both skip Gradio's processing
    (``wire.WIRE``: ``fn`` answers in its sent form). Returns the page's event, for what follows it."""
    answered = gr.on(
        triggers,
        said_beside(fn, len(outputs)),
        inputs,
        [*outputs, said],
        api_name=f"{api_name}_in_page",
        api_visibility="private",
        **DIRECT,
        **wire.WIRE,
        **page,
    )
    gr.on([], friendly(fn), inputs, outputs, api_name=api_name, **LIGHT, **wire.WIRE)
    return answered


def refusal_slot(elem_id: str) -> gr.HTML:
    """Where a ``DIRECT`` answer's refusal is said (``said_beside``): empty, so it takes no room until then."""
    return gr.HTML("", elem_id=elem_id, elem_classes="refusal-slot", padding=False, container=False)


def without_server_paths(message: str) -> str:
    """``message`` with this machine's folders (temp dir, working dir, home) cut from the paths it names: a file
    keeps its name (``…/last.pt``), the page never learns where the server keeps it."""
    roots = {tempfile.gettempdir(), os.path.realpath(tempfile.gettempdir()), os.getcwd(), os.path.expanduser("~")}
    for root in sorted((r.rstrip(os.sep) for r in roots if len(r) > 1), key=len, reverse=True):
        pattern = re.escape(root) + "(" + re.escape(os.sep) + r"[^\s'\":,;]*)?"
        message = re.sub(pattern, _cut_path, message)
    return message


def _cut_path(match: re.Match) -> str:
    rest = match.group(1)
    return "…" + os.sep + os.path.basename(rest.rstrip(os.sep)) if rest and rest.strip(os.sep) else "…"
