"""The Lesson tab (the first tab): five steps of the course notes' storyline, each a paragraph, a live view from
the other tabs, a question the engine checks, and "next step" / "open in its tab".

Handlers are plain functions over ``visualizer.views.lesson``; ``LessonTab`` lays out the components and wires
them right after. ``link`` wires "open in its tab" once the other tabs exist.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from visualizer.ui import architecture, wire
from visualizer.ui.handlers import LIGHT, NETWORK, friendly
from visualizer.ui.text import i18n
from visualizer.views import architecture as arch_views
from visualizer.views import lesson


# ---------------------------------------------------------------- handlers
def _index(step: Any) -> int:
    try:
        return int(step or 0)
    except (TypeError, ValueError):
        return 0


def show_text(step: Any) -> tuple[str, str, str]:
    # The paragraph and question at once; the answer box and its feedback cleared.
    return lesson.step_html(_index(step)), "", ""


def show_view(step: Any) -> str:
    return lesson.step_view(_index(step))


def next_step(step: Any) -> int:
    return (_index(step) + 1) % len(lesson.STEPS)


def check(step: Any, typed: str) -> str:
    _right, feedback = lesson.check_answer(_index(step), typed)
    return feedback


def open_tab(step: Any) -> tuple:
    s = lesson.STEPS[_index(step)]
    if s.model is None:  # the tab opens as it is (3×3 vs 5×5, Feature maps)
        return gr.Tabs(selected=s.tab), gr.update(), gr.update()
    return gr.Tabs(selected=s.tab), s.model, arch_views.design_size(s.model)


def open_analysis(step: Any, model: str, size: str, outputs: int) -> tuple:
    # An Architecture step's model analysed as the tab's own Analyze would; other steps leave that tab alone.
    if lesson.STEPS[_index(step)].model is None:
        return tuple(gr.update() for _ in range(outputs))
    return architecture.analyze_ui(model, size)


# ---------------------------------------------------------------- the tab
class LessonTab:
    """The tab's components (attributes, in page order), then its events."""

    def __init__(self, demo: gr.Blocks) -> None:
        with gr.Tab(i18n("tab_lesson"), id="lesson"):
            with gr.Row(elem_id="lesson-nav"):
                self.step = gr.Radio(
                    lesson.step_choices(),
                    value=0,
                    label=i18n("lesson_step"),
                    show_label=False,
                    container=False,
                    elem_id="lesson-steps",
                    scale=3,
                )
                self.next = gr.Button(i18n("lesson_next"), size="md", elem_id="lesson-next", scale=0, min_width=150)
                self.open = gr.Button(i18n("lesson_open"), size="md", elem_id="lesson-open", scale=0, min_width=170)
            self.text = gr.HTML(elem_id="lesson-text", padding=False)
            with gr.Row(elem_id="lesson-ask"):
                self.answer = gr.Textbox(
                    label=i18n("lesson_answer"),
                    placeholder=i18n("lesson_answer"),
                    show_label=False,
                    container=False,
                    elem_id="lesson-answer",
                    max_length=lesson.MAX_ANSWER,
                    scale=1,
                )
                self.check = gr.Button(
                    i18n("lesson_check"), variant="primary", elem_id="lesson-check", scale=0, min_width=120
                )
            self.feedback = gr.HTML(elem_id="lesson-feedback", padding=False, min_height=0)
            self.view = gr.HTML(elem_id="lesson-view", padding=False)
        self._events(demo)

    def _events(self, demo: gr.Blocks) -> None:
        shown = [self.text, self.answer, self.feedback]
        for trigger in (demo.load, self.step.change):
            trigger(friendly(show_text), self.step, shown, api_visibility="private", **LIGHT).then(
                friendly(show_view, release_memory=True), self.step, self.view, api_visibility="private", **NETWORK
            )
        self.next.click(friendly(next_step), self.step, self.step, api_visibility="private", **LIGHT)
        gr.on(
            [self.check.click, self.answer.submit],
            friendly(check),
            [self.step, self.answer],
            self.feedback,
            api_visibility="private",
            **LIGHT,
        )

    def link(self, tabs: gr.Tabs, arch: architecture.ArchitectureTab) -> None:
        """ "Open in its tab": select the step's tab; an Architecture step also picks its model and analyses it."""
        outputs = arch.analysis + arch.no_maps
        self.open.click(
            friendly(open_tab), self.step, [tabs, arch.model, arch.size], api_visibility="private", **LIGHT
        ).then(
            friendly(lambda step, model, size: open_analysis(step, model, size, len(outputs))),
            [self.step, arch.model, arch.size],
            outputs,
            api_visibility="private",
            **wire.WIRE,  # analyze_ui's values are in the form Gradio sends them
        )


def build(demo: gr.Blocks) -> LessonTab:
    """The Lesson tab, inside ``demo``'s ``gr.Tabs()``; step 1 shows on page load."""
    return LessonTab(demo)
