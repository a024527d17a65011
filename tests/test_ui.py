"""The page's wiring, without a browser: which events are public endpoints, which queue each waits in, and how
a handler's error reaches the page (``visualizer/ui/``)."""

from __future__ import annotations

import asyncio
import os
import threading

import gradio as gr
import pytest
from gradio.state_holder import SessionState

from visualizer.ui.app import build_demo
from visualizer.ui.architecture import analyze_ui
from visualizer.ui.handlers import NETWORK_NICE, friendly, on_network_thread
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
    # a clicked unit (it may need its layer's inputs), the card's unit and its ERF, and the units' endpoints.
    assert sorted(network) == [
        "arch_erf",
        "arch_selected",
        "effective_rf",
        "explain_unit",
        "feature_maps",
        "selected_maps",
        "selected_maps_1",
        "selected_maps_2",
        "unit_clicked",
    ]
    assert {by_name[n].concurrency_limit for n in network} == {1}
    for name in ("analyze", "compare_stacks", "compare_models", "layer_details", "diagram_clicked", "row_clicked"):
        assert by_name[name].concurrency_limit == 4 and by_name[name].concurrency_id != "network", name
    # The snapshot panel's refreshes (after start/pause/stop/…, a pick, a new snapshot seen by the timer) are one
    # handler, hence one queue.
    snapshot = {e.concurrency_id for e in events if e.api_name.startswith("snapshot_ui")}
    assert len(snapshot) == 1 and sum(e.api_name.startswith("snapshot_ui") for e in events) == 8


def test_friendly_turns_a_handlers_refusal_into_a_page_message():
    def refuse(size: str) -> str:
        raise ValueError(f"input size {size!r}: expected C×H×W, e.g. 3x224x224")

    with pytest.raises(gr.Error) as caught:
        friendly(refuse)("7x")
    assert caught.value.message == "input size '7x': expected C×H×W, e.g. 3x224x224"
    assert friendly(refuse).__name__ == "refuse"  # Gradio names private endpoints after the handler


def test_friendly_leaves_programming_errors_alone():
    def broken() -> None:
        raise TypeError("a bug, not a bad input")

    with pytest.raises(TypeError):
        friendly(broken)()


def test_forward_passes_run_on_a_lower_priority_thread_than_answers_from_records(events):
    network = [e for e in events if e.concurrency_id == "network"]
    assert network and all(getattr(e.fn, "__wrapped__", None) for e in network)

    # The wrapper runs the handler on the network thread: its priority is the caller's + NETWORK_NICE.
    def probe():
        return threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    tid, nice = on_network_thread(probe)()
    assert tid != threading.get_native_id() and nice == min(19, mine + NETWORK_NICE)
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
