"""The page's wiring, without a browser: which events are public endpoints, which queue each waits in, and how
a handler's error reaches the page (``visualizer/ui/``)."""

from __future__ import annotations

import asyncio
import os
import re
import threading

import gradio as gr
import pytest
from gradio.state_holder import SessionState
from torch import nn

import zoo
from visualizer.budgets.cpu import NETWORK_NICE
from visualizer.ui.app import build_demo
from visualizer.ui.architecture import analyze_ui
from visualizer.ui.compare import compare_ui
from visualizer.ui.handlers import NETWORK, friendly, on_network_thread, page_message, said_beside, said_in_place
from visualizer.ui.stacks import stacks_ui
from visualizer.user_models import register_instance
from visualizer.views import architecture as architecture_view

PUBLIC = {
    "analyze",
    "compare_stacks",
    "feature_maps",
    "train_start",
    "train_pause",
    "train_resume",
    "train_stop",
    "train_status",
    "train_snapshot",
    "train_runs",
    "train_queue",
    "train_compare",
    "compare_models",
    "layer_details",
    "explain_unit",
    "effective_rf",
}


@pytest.fixture(scope="module")
def events():
    return list(build_demo().fns.values())


def test_the_public_endpoints_are_exactly_the_documented_ones(events):
    public = [e.api_name for e in events if e.api_visibility == "public"]
    assert sorted(public) == sorted(PUBLIC)  # each once
    # Everything else is private, except the examples' own loaders (Gradio marks those undocumented).
    others = {e.api_name for e in events if e.api_visibility == "undocumented"}
    assert others == {"load_example", "load_example_1"}


def test_forward_passes_share_one_queue_and_answers_from_records_have_their_own(events):
    by_name = {e.api_name: e for e in events}
    network = [e.api_name for e in events if e.concurrency_id == "network"]
    # The Feature-maps button and the Architecture tab's layer maps (after a box click, a row click, a new image),
    # a clicked unit (it may need its layer's inputs), the card's unit and its ERF, the units' endpoints, and the
    # Lesson's views (on load and on a step change: its photo step runs AlexNet), and the Feature-maps tab's first
    # look (on page load or the tab's first visit).
    assert sorted(network) == [
        "arch_erf",
        "arch_selected",
        # after a box click, a row click, an analysis by button or size and one by model (each answered outside the
        # queue: no state change event)
        "arch_selected_1",
        "arch_selected_2",
        "arch_selected_3",
        "arch_selected_4",
        "effective_rf",
        "explain_unit",
        "feature_maps",
        "first_visit_ui",
        "selected_maps",
        "selected_maps_1",
        "selected_maps_2",
        "show_view",
        "show_view_1",
        "unit_clicked",
    ]
    # Four at a time: one running the process's one forward (budgets.memory.ForwardSlot), the others drawing from kept
    # passes.
    assert {by_name[n].concurrency_limit for n in network} == {NETWORK["concurrency_limit"]} == {4}
    for name in ("analyze", "compare_stacks", "compare_models", "layer_details", "diagram_clicked", "row_clicked"):
        assert by_name[name].concurrency_limit == 4 and by_name[name].concurrency_id != "network", name
    # The snapshot panel's refreshes (after start/pause/stop/…, a pick, a new snapshot seen by the timer) are one
    # handler, hence one queue.
    snapshot = {e.concurrency_id for e in events if e.api_name.startswith("snapshot_ui")}
    assert len(snapshot) == 1 and sum(e.api_name.startswith("snapshot_ui") for e in events) == 8


def test_the_pages_answers_from_the_records_skip_the_queue_and_scripts_keep_queued_endpoints(events):
    # The page's cards (a box or row click), analyses, stacks and comparisons are answered in their request
    # (queue=False), each with its refusal said in the page; scripts' documented endpoints stay queued.
    direct = {e.api_name for e in events if not e.queue and e.fn is not None and e.api_name != "load_example"}
    in_page = {"analyze_in_page", "compare_stacks_in_page", "compare_models_in_page"}
    assert {"diagram_clicked", "row_clicked", "layer_details"} | in_page <= direct
    by_name = {e.api_name: e for e in events}
    for name in ("analyze", "compare_stacks", "compare_models", "feature_maps", "train_start", "refold_ui"):
        assert name not in direct, name
    for name in in_page:
        page, script = by_name[name], by_name[name.removesuffix("_in_page")]
        assert page.api_visibility == "private" and script.api_visibility == "public" and not script.targets
        # the same outputs, and a slot for the refusal after them
        assert page.outputs[:-1] == script.outputs and "refusal-slot" in page.outputs[-1].elem_classes
        assert page.fn.__wrapped__.__wrapped__ is script.fn.__wrapped__  # one handler (said_beside's, friendly's)
    assert not any(e.queue is False and e.concurrency_id == NETWORK["concurrency_id"] for e in events)


def test_a_refusal_said_beside_has_a_slot_of_its_own():
    def compare(names):
        if len(names) < 2:
            raise ValueError(f"pick at least two models to compare (got {len(names)})")
        return "table", "chart"

    assert said_beside(compare, 2)(["a", "b"]) == ("table", "chart", "")  # an answer empties the slot
    refused = said_beside(compare, 2)(["a"])
    assert refused[:2] == (gr.skip(), gr.skip())  # what the tab showed stays
    assert 'class="said-in-place"' in refused[2] and "(got 1)" in refused[2] and "(지금 1개)" in refused[2]


def test_a_refusal_said_in_place_is_the_answers_own_panel():
    def card(state, key):
        if state is None:
            raise ValueError("analyse a model first (pick one and press Analyze)")
        return f"card of {key}", {"selected": key}

    answer = said_in_place(card, 2)(None, "features.0")
    assert len(answer) == 2 and answer[1] == gr.skip()  # the state kept
    assert 'class="said-in-place"' in answer[0] and "analyse a model first" in answer[0]
    assert "먼저 모델을 분석하세요" in answer[0]  # in both languages, as the pop-ups are
    assert said_in_place(card, 2)({}, "features.0") == ("card of features.0", {"selected": "features.0"})

    def unknown(state, key):
        raise KeyError(f"no layer {key!r}")  # a message with no Korean form, naming what the request sent

    shown = said_in_place(unknown, 2)({}, "<img src=x onerror=alert(1)>")[0]
    assert "<img" not in shown and "&lt;img src=x onerror=alert(1)&gt;" in shown


def test_friendly_turns_a_handlers_refusal_into_a_page_message():
    def refuse(size: str) -> str:
        raise ValueError(f"input size {size!r}: expected C×H×W, e.g. 3x224x224")

    with pytest.raises(gr.Error) as caught:
        friendly(refuse)("7x")
    assert caught.value.message == "input size '7x': expected C×H×W, e.g. 3x224x224"
    assert friendly(refuse).__name__ == "refuse"  # Gradio names private endpoints after the handler


def test_friendly_never_shows_a_server_path():
    import os
    import tempfile

    def leak() -> None:  # what analyze said for vgg: + 64 × 128 before its downloads got short names
        raise OSError(36, "File name too long", os.path.join(tempfile.gettempdir(), "cnnviz-exports-0", "vgg.csv"))

    def upload() -> None:
        raise ValueError(f"checkpoint {os.path.join(os.getcwd(), 'runs', 'uploads', 'ab12.pt')} is missing 'model'")

    for handler, shown in ((leak, "…/vgg.csv"), (upload, "checkpoint …/ab12.pt is missing 'model'")):
        with pytest.raises(gr.Error) as caught:
            friendly(handler)()
        message = caught.value.message
        assert shown in message and tempfile.gettempdir() not in message and os.getcwd() not in message


def test_friendly_leaves_programming_errors_alone():
    def broken() -> None:
        raise TypeError("a bug, not a bad input")

    with pytest.raises(TypeError):
        friendly(broken)()


def test_a_page_opened_on_your_own_network_starts_on_it_in_every_picker():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10))
    name = register_instance(net, "3x32x32", name="opened_on")
    try:
        blocks = build_demo(name).blocks.values()
        models = [b for b in blocks if isinstance(b, gr.Dropdown) and name in [c[1] for c in b.choices]]
        # Architecture, Feature maps, Training (single pickers) start on it; Compare has it among its models.
        assert sorted(str(m.value) for m in models if not m.multiselect) == [name] * 3
        (compare,) = [m for m in models if m.multiselect]
        assert compare.value[0] == name
        assert all(zoo.get_spec(n).input_size == (3, 32, 32) for n in compare.value)
        radios = [b for b in blocks if isinstance(b, gr.Radio) and "own" in [c[1] for c in b.choices]]
        assert len(radios) == 2 and {r.value for r in radios} == {"auto"}  # both weight pickers offer "own"
    finally:
        zoo.unregister_model(name)


def column(table: dict, name: str) -> list:
    """A column of a table as the page receives it (``ui.wire.table``: headers and rows)."""
    return [row[table["headers"].index(name)] for row in table["data"]]


def test_the_stacks_chart_shows_the_two_designs_in_the_tables_order():
    # Issue 17: the chart sorted its axis alphabetically ("1 × 5×5 conv" first), the table has the stack first.
    table, _, chart = stacks_ui(3, 2, 64, 64)
    assert column(table, "design") == ["2 × 3×3 conv", "1 × 5×5 conv"]
    assert re.findall(r"data-bar=\"([^\"]+)\"", chart) == ["2 × 3×3 conv", "1 × 5×5 conv"]
    # bars from zero, as long as their values: 18 and 25 weights per channel pair
    assert re.findall(r"width:([\d.]+)%", chart) == [f"{100 * 18 / 25:.1f}", "100.0"]
    assert re.findall(r"bar-value'>(\d+)<", chart) == ["18", "25"]
    _, _, ko = stacks_ui(3, 2, 64, 64, "ko")
    assert re.findall(r"data-bar=\"([^\"]+)\"", ko) == ["3×3 합성곱 2개", "5×5 합성곱 1개"] and "채널 쌍당" in ko


def test_the_compare_charts_show_the_models_in_the_tables_order():
    table, charts = compare_ui(["vgg16", "alexnet", "resnet18"], "3x224x224")
    assert column(table, "model") == ["vgg16", "alexnet", "resnet18"]
    assert re.findall(r"data-bar=\"([^\"]+)\"", charts) == ["vgg16", "alexnet", "resnet18"] * 3  # three charts
    # parameters: the longest bar is VGG-16's 138.36 M; AlexNet's 61.10 M is 44.2 % of it
    params = re.findall(r"width:([\d.]+)%", charts)[:3]
    assert params == ["100.0", f"{100 * 61100840 / 138357544:.1f}", f"{100 * 11689512 / 138357544:.1f}"]
    assert "138.36 M" in charts and "파라미터 (M)" in compare_ui(["vgg16", "alexnet"], "3x224x224", "ko")[1]


def test_a_refusal_the_page_knows_comes_in_both_languages():
    def refuse(kernel: int) -> None:
        raise ValueError(f"kernel {kernel} is even; use an odd kernel (1, 3, 5, 7 …) so the layer keeps a centre pixel")

    with pytest.raises(gr.Error) as caught:
        friendly(refuse)(4)
    assert caught.value.message == (
        '<span class="en">kernel 4 is even; use an odd kernel (1, 3, 5, 7 …) so the layer keeps a centre pixel</span>'
        '<span class="ko">커널 4: 짝수입니다; 가운데 픽셀이 남도록 홀수 커널(1, 3, 5, 7 …)을 쓰세요</span>'
    )
    assert page_message("Epochs must be from 1 to 1000, got 0").endswith(
        '<span class="ko">에폭 수: 1에서 1000 사이여야 합니다 (입력: 0)</span>'
    )
    assert page_message("a message without a Korean form <b>") == "a message without a Korean form <b>"  # as it is


def test_forward_passes_run_on_a_lower_priority_thread_than_answers_from_records(events):
    network = [e for e in events if e.concurrency_id == "network"]
    assert network and all(getattr(e.fn, "__wrapped__", None) for e in network)

    # The wrapper runs the handler on the network thread: at NETWORK_NICE (or the caller's, if that is lower).
    def probe():
        return threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    tid, nice = on_network_thread(probe)()
    assert tid != threading.get_native_id() and nice == max(mine, NETWORK_NICE)
    for e in events:  # answers from the records stay on Gradio's own threads
        if e.api_name in ("analyze", "layer_details", "compare_stacks", "diagram_clicked"):
            assert e.concurrency_id != "network"


def test_a_new_analysis_sends_the_table_as_rows_and_clears_the_last_selection():
    table, totals, drawing, files, fold, state, card, maps, rf, info, maps_state = analyze_ui("alexnet_cifar", "")
    layers = architecture_view.run("alexnet_cifar", "").layers
    assert [row[table["headers"].index("Layer")] for row in table["data"]] == [r.name for r in layers]
    assert state["selected"] is None and card and (maps, rf, info, maps_state) == (None, None, "", None)


def test_a_skipped_output_costs_gradio_more_than_an_empty_one():
    """Why the page clears with values: Gradio 6.31 turns a gr.skip() into a prop update and rebuilds the component
    and its config for it (``Blocks.postprocess_data``), where an empty value is only postprocessed. Counted here
    as component constructions, not timed."""
    with gr.Blocks() as demo:
        out = gr.HTML()
        gr.Button().click(lambda: "", None, out)
        gr.Button().click(gr.skip, None, out)
    demo.is_running = True
    built = []
    original = gr.HTML.__init__

    def counting(self, *args, **kwargs):
        built.append(1)
        original(self, *args, **kwargs)

    gr.HTML.__init__ = counting
    try:
        state = SessionState(demo)
        fns = list(demo.fns.values())
        asyncio.run(demo.process_api(fns[0], [], state=state))
        assert built == []
        asyncio.run(demo.process_api(fns[1], [], state=state))
        assert built == [1]
    finally:
        gr.HTML.__init__ = original


def test_the_queue_rebuilds_its_monitoring_summary_once_every_thousand_events(monkeypatch):
    """Gradio's queue summarises its last events (a pandas DataFrame) after every event by default, 14.6 ms with
    the 10,000 it keeps; ``launch`` makes it once every 1,000 events, from the last 1,000 — and a value the caller
    set in the environment wins."""
    from visualizer.ui import app as ui_app

    for name in ui_app.QUEUE_ANALYTICS:  # (set first, so the test's end restores whatever was there)
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    launched = []
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kwargs: launched.append(self))
    demo = ui_app.launch(port=None, prevent_thread_lock=True)
    assert launched == [demo]
    queue = demo._queue
    assert (queue.ANALYTICS_MAX_EVENTS, queue.ANAYLTICS_CACHE_FREQUENCY) == (1000, 1000)
    records = [{"time": 0.0, "status": "success", "process_time": 0.01, "function": "analyze", "session_hash": "s"}]
    for _ in range(999):
        queue.events_recorded += 1
        assert queue.compute_analytics_summary(records) == {"functions": {}}  # not rebuilt between
    queue.events_recorded += 1
    assert queue.compute_analytics_summary(records)["functions"]["analyze"]["total_requests"] == 1
    monkeypatch.setenv("GRADIO_ANALYTICS_MAX_EVENTS", "50")
    assert ui_app.launch(port=None, prevent_thread_lock=True)._queue.ANALYTICS_MAX_EVENTS == 50
