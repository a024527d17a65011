"""``visualizer/ui/wire.py``: each value handed over in Gradio's own sent form is what the component's
``postprocess`` would have sent (compared through ``Blocks.process_api``, the server's path), and the page's
record-only answers are registered to skip Gradio's postprocessing."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import shutil

import gradio as gr
import pytest
from gradio.state_holder import SessionState
from PIL import Image

from visualizer.images import example_images
from visualizer.ui import wire
from visualizer.ui.app import build_demo
from visualizer.ui.downloads import EXPORTS, links
from visualizer.views import architecture as architecture_view


def sent(components: list, plain, wired) -> tuple[list, list]:
    """What the browser receives for ``plain`` values through Gradio's postprocessing, and for ``wired`` values
    through an event that skips it."""
    with gr.Blocks() as page:
        made = [make() for make in components]
        gr.Button().click(lambda: plain, None, made)
        gr.Button().click(lambda: wired, None, made, postprocess=False)
    answers = [asyncio.run(page.process_api(page.fns[i], [], state=SessionState(page)))["data"] for i in (0, 1)]
    return answers[0], answers[1]


def test_a_table_and_markdown_are_sent_as_gradio_would_send_them():
    frame = architecture_view.layer_table(architecture_view.run("alexnet_cifar", "3x32x32"), "en")
    totals = "\n    **2 layers**\n    and more"
    plain, wired = sent(
        [gr.Dataframe, gr.Markdown, gr.HTML],
        (frame, totals, "<b>card</b>"),
        (wire.table(frame), wire.markdown(totals), "<b>card</b>"),
    )
    assert wired == plain
    assert len(plain[0]["data"]) == len(frame) and plain[1] == "**2 layers**\nand more"  # un-indented


def test_the_analysis_answer_on_the_page_is_the_one_gradio_would_have_made():
    # The real event (postprocessing skipped) against the same outputs postprocessed from plain values.
    demo = build_demo()
    event = next(fn for fn in demo.fns.values() if fn.api_name == "analyze")
    assert event.postprocess is False
    answer = asyncio.run(demo.process_api(event, ["vgg16", "", "en"], state=SessionState(demo)))["data"]
    table, totals, drawing, files, fold, state, card = architecture_view.analyze_view("vgg16", "", lang="en")
    assert answer[0]["headers"] == [str(c) for c in table.columns] and answer[0]["data"] == table.values.tolist()
    assert answer[1] == totals.strip() and answer[2] == drawing and answer[6] == card
    assert answer[3] == links(EXPORTS.shelve_all(files))  # the downloads as links to the shelf (ui.downloads)
    assert answer[7:] == [None, None, "", None]  # the last selection's maps cleared


def test_the_architecture_tabs_answers_from_the_records_skip_gradios_processing():
    demo = build_demo()
    analyze = next(fn for fn in demo.fns.values() if fn.api_name == "analyze")
    assert analyze.postprocess is False and analyze.preprocess is False
    # the card of a click on a box or a row, and the redraws (fold, a stage's ×N)
    names = {"analyze_ui", "diagram_clicked", "row_clicked", "refold_ui", "expand_ui"}
    wired = [fn for fn in demo.fns.values() if getattr(fn.fn, "__name__", None) in names]
    assert {fn.fn.__name__ for fn in wired} == names
    assert all(fn.postprocess is False and fn.preprocess is False for fn in wired)


def test_the_feature_maps_answer_is_sent_as_gradio_would_send_it_from_files_already_written(tmp_path):
    # The pictures, table and text of one answer, wired, against the same answer postprocessed by Gradio: equal, and
    # every picture is the file its forward pass wrote (inside Gradio's cache: served without a hash or a copy).
    from visualizer.budgets import outputs
    from visualizer.ui.features import wired
    from visualizer.views import features as features_view

    photo = features_view.example_images()[0]
    answer = features_view.feature_maps(photo, "alexnet_cifar", "random", None, "features.3", 4)
    images = lambda: gr.Image(type="pil")  # noqa: E731
    components = [images, gr.Markdown, images, images, gr.Dataframe, images, images, images]
    plain, sent_wired = sent(components, outputs.as_files(answer[:8]), wired(answer)[:8])
    assert sent_wired == plain
    written = outputs.as_files(answer[:8])
    for i in (0, 2, 3, 5, 6):
        assert sent_wired[i]["path"] == written[i] and written[i].startswith(outputs.folder())
        assert sent_wired[i]["url"].startswith("/gradio_api/file=")
    assert sent_wired[7] is None and sent_wired[4]["headers"] == list(answer[4].columns)
    # A refusal's empty panels (offline ImageNet weights, say) go the same way.
    cleared = features_view.cleared("no weights")
    plain, sent_wired = sent(components, cleared[:8], wired(cleared)[:8])
    assert sent_wired == plain


def test_the_feature_maps_events_skip_gradios_processing_and_hand_the_upload_over_as_its_preprocess_would():
    demo = build_demo()
    names = {"feature_maps_ui", "first_visit_ui"}
    events = [fn for fn in demo.fns.values() if getattr(fn.fn, "__name__", None) in names]
    assert {fn.fn.__name__ for fn in events} == names
    assert all(fn.postprocess is False and fn.preprocess is False for fn in events)
    # What the browser sends for the photo, and what the handler gets: the upload's path, as ImageUpload.preprocess
    # hands it; a base64 image (an API caller's) decoded into a file in Gradio's cache, as Gradio's own does.
    from gradio.data_classes import ImageData

    from visualizer.budgets import outputs
    from visualizer.ui.components import ImageUpload, upload_path

    inside = os.path.join(outputs.gradio_cache_dir(), "cnnviz-test-upload", "photo.jpg")
    os.makedirs(os.path.dirname(inside), exist_ok=True)
    shutil.copy(example_images()[0], inside)
    sent = {"path": inside, "orig_name": "photo.jpg", "meta": {"_type": "gradio.FileData"}}
    assert upload_path(sent) == inside == ImageUpload(type="filepath", render=False).preprocess(ImageData(**sent))
    assert upload_path(None) is None
    with open(inside, "rb") as f:
        encoded = {"url": "data:image/jpeg;base64," + base64.b64encode(f.read()).decode(), "orig_name": "photo.jpg"}
    decoded = upload_path(encoded)
    assert decoded.startswith(outputs.gradio_cache_dir()) and Image.open(decoded).size == Image.open(inside).size
    for elsewhere in (example_images()[0], "/etc/passwd", inside + "/../../../../etc/passwd"):
        with pytest.raises(ValueError, match="not uploaded to this server"):
            upload_path({"path": elsewhere})


@pytest.mark.parametrize(
    "api, inputs",
    [
        ("compare_stacks", [3, 2, 64, 64, "en"]),
        ("compare_models", [["alexnet", "vgg16", "resnet18"], "3x224x224", "ko"]),
        ("compare_models", [["alexnet", "vgg16"], 224, "en"]),  # one side as a number, as an API caller may send
    ],
)
def test_the_stacks_and_compare_answers_skip_gradios_processing_and_are_what_it_would_send(api, inputs):
    """The 3×3-vs-5×5 and Compare tabs answer from the records too: their events (button, page load, language)
    skip Gradio's processing, and the answer is what its postprocessing of the plain values would have sent."""
    from visualizer.views import compare, stacks

    demo = build_demo()
    event = next(fn for fn in demo.fns.values() if fn.api_name == api)
    assert event.postprocess is False and event.preprocess is False
    handler = event.fn.__wrapped__  # (``friendly``'s)
    same_handler = [fn for fn in demo.fns.values() if getattr(fn.fn, "__wrapped__", None) is handler]
    assert len(same_handler) == 3 and all(fn.postprocess is False and fn.preprocess is False for fn in same_handler)
    answer = asyncio.run(demo.process_api(event, list(inputs), state=SessionState(demo)))["data"]
    if api == "compare_stacks":
        table, summary, chart = stacks.stacks_view(*inputs)
        html = stacks.chart_html(chart)
        plain, wired = (table, summary, html), (wire.table(table), wire.markdown(summary), html)
        components = [gr.Dataframe, gr.Markdown, gr.HTML]
    else:
        table, chart = compare.compare_view(*inputs)
        html = compare.charts_html(chart, inputs[-1])
        plain, wired, components = (table, html), (wire.table(table), html), [gr.Dataframe, gr.HTML]
    expected, also = sent(components, plain, wired)
    assert answer == expected == also
    assert answer[0]["data"] == table.values.tolist()  # every row, as the view computed it


@pytest.mark.parametrize(
    "api, inputs, message",
    [
        ("compare_stacks", ["abc", 2, 64, 64, "en"], "kernel must be a whole number, got 'abc'"),
        ("compare_stacks", [3, [2], 64, 64, "en"], "repeats must be a whole number, got [2]"),
        ("compare_stacks", [3, 2, float("inf"), 64, "en"], "input channels must be a whole number, got inf"),
        ("compare_models", [[5, None], "3x224x224", "en"], "valid names"),
        ("compare_models", [{"a": 1}, "3x224x224", "en"], "pick at least two models to compare (got 0)"),
        ("compare_models", [["alexnet", "vgg16"], {"a": 1}, "en"], "is not understood; write CxHxW, HxW or one side"),
    ],
)
def test_what_an_api_caller_sends_unprocessed_is_checked_by_the_view(api, inputs, message):
    """These events skip Gradio's preprocessing, so an API caller's text for a slider or numbers for the models reach
    the views as sent: each is refused with what was wrong, and the next answer is served."""
    demo = build_demo()
    event = next(fn for fn in demo.fns.values() if fn.api_name == api)
    with pytest.raises(gr.Error) as err:
        asyncio.run(demo.process_api(event, list(inputs), state=SessionState(demo)))
    assert message in str(err.value.message)
    answer = asyncio.run(
        demo.process_api(
            event,
            [3, 2, 64, 64, "en"] if api == "compare_stacks" else [["alexnet", "vgg16"], "3x224x224", "en"],
            state=SessionState(demo),
        )
    )
    assert len(answer["data"][0]["data"]) == 2


@pytest.mark.parametrize(
    "name, good, bad, said",
    [
        ("analyze", ["vgg16", "", "en"], ["vgg17", "", "en"], "valid names"),
        ("compare_stacks", [3, 2, 64, 64, "ko"], [3, 2.5, 64, 64, "en"], "repeats must be a whole number"),
        ("compare_models", [["alexnet", "vgg16"], "224", "en"], [["alexnet"], "224", "en"], "(got 1)"),
    ],
)
def test_the_pages_own_answer_is_the_scripts_answer_and_its_refusal_is_said_in_its_slot(name, good, bad, said):
    # Through Gradio's server path (process_api): the page's event answers what the script's endpoint answers, plus
    # an empty slot; refused, the slot says why and every other output is left as the page shows it.
    demo = build_demo()
    page, script = (next(fn for fn in demo.fns.values() if fn.api_name == n) for n in (f"{name}_in_page", name))
    answer = asyncio.run(demo.process_api(page, list(good), state=SessionState(demo)))["data"]
    expected = asyncio.run(demo.process_api(script, list(good), state=SessionState(demo)))["data"]
    assert answer[:-1] == expected and answer[-1] == ""
    refused = asyncio.run(demo.process_api(page, list(bad), state=SessionState(demo)))["data"]
    assert said in refused[-1] and "said-in-place" in refused[-1]
    for kept, output in zip(refused[:-1], page.outputs[:-1]):  # updates without a value (a gr.State: untouched)
        assert (kept is None and output.stateful) or (kept["__type__"] == "update" and "value" not in kept), kept
    with pytest.raises(gr.Error, match=re.escape(said)):  # a script is refused with an error
        asyncio.run(demo.process_api(script, list(bad), state=SessionState(demo)))
