"""Components and choices more than one tab uses.

``ImageUpload`` subclasses a Gradio component, so Gradio writes ``components.pyi`` (its event stubs) beside this
file on import; git ignores it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
from gradio.data_classes import ImageData

import zoo
from visualizer.budgets import outputs
from visualizer.ui.handlers import page_message

EXAMPLE_CUSTOM = "vgg:64,64,M,128,128,M,256,256,M"  # type any such string into a model box
SIZE_PRESETS = ["3x224x224", "3x227x227", "3x32x32"]


def model_choices() -> list[str]:
    """What a model box offers: the zoo, and one custom VGG string to show that any such string works."""
    return zoo.list_models() + [EXAMPLE_CUSTOM]


# Choices' labels in Korean (their values, what the handlers and the endpoints take, stay as they are).
CHOICES_KO = {
    "auto": "자동",
    "random": "무작위",
    "imagenet": "ImageNet",
    "checkpoint": "체크포인트",
    "own": "내 모델의 가중치",
    "mean": "평균",
    "max": "최대",
    "channel": "채널마다",
    "shared": "모두 같은 범위",
}


def choices(values: list[str], lang: str | None = "en") -> list[tuple[str, str]]:
    """A Radio's (label, value) pairs in the page's language."""
    ko = str(lang or "").lower().startswith("ko")
    return [(CHOICES_KO.get(v, v) if ko else v, v) for v in values]


IMAGE_LABEL = {"en": "Image", "ko": "이미지"}  # an upload's label in the page's language (it takes no i18n key)


def image_label(lang: str | None) -> gr.Image:
    """An update giving an ``ImageUpload`` its label in the page's language: the upload shows an i18n key's
    object as "[object Object]", so Python writes its label in one language."""
    return gr.Image(label=IMAGE_LABEL["ko" if str(lang or "").lower().startswith("ko") else "en"])


class ImageUpload(gr.Image):
    """An image upload that hands the original file to ``visualizer.images.load_image``.

    Gradio's own preprocessing opens and converts the file first: 16-bit PNGs are clipped, transparency
    takes the file's hidden colour, and a non-image fails inside Gradio before our checks could say why.
    """

    is_template = True  # the browser side is the ordinary Image component

    def preprocess(self, payload: Any) -> Any:
        if _decoded_by_gradio(payload):
            return super().preprocess(payload)
        try:
            return uploaded_file(payload.path)
        except ValueError as exc:
            raise gr.Error(page_message(str(exc)), duration=None) from exc


NOT_UPLOADED = (
    "that image was not uploaded to this server; upload it (JPEG, PNG, WebP, GIF …) or click an example below the "
    "upload box"
)


def uploaded_file(path: str) -> str:
    """``path`` if it is a file in Gradio's upload folder (an upload, or an example the page offers), else a
    ``ValueError`` that does not repeat it. Gradio checks an upload's path only when its ``FileData`` carries
    Gradio's meta (``processing_utils._check_allowed``); an image's ``ImageData`` has no such check and takes the
    meta by default, so ``{"path": "/any/file.jpg"}`` sent by hand would reach the handler."""
    folder = Path(outputs.gradio_cache_dir()).resolve()
    if not Path(path).resolve().is_relative_to(folder):
        raise ValueError(NOT_UPLOADED)
    return path


def _decoded_by_gradio(payload: Any) -> bool:
    """No upload's file to hand over: nothing sent, or an image sent inline (a ``data:`` URL, from an API caller)."""
    return payload is None or payload.path is None or (payload.url or "").startswith("data:")


def upload_path(sent: dict | None) -> str | None:
    """What an ``ImageUpload`` hands its handler (``preprocess``), from the value the browser sent, for an event that
    skips Gradio's preprocessing (``wire.WIRE``: no hop to a worker thread per input). Gradio's ``preprocess_data``
    has checked a path sent with Gradio's meta either way; any path is checked here too (``uploaded_file``)."""
    payload = None if sent is None else ImageData.model_validate(sent)
    if _decoded_by_gradio(payload):  # (rare: decoded by the component's own preprocess, as the tabs' uploads are)
        return _INLINE.preprocess(payload)
    return uploaded_file(payload.path)


# Made here, on import: a component made inside an event handler is only an update (Gradio skips most of its
# ``__init__``), which cannot preprocess.
_INLINE = ImageUpload(type="filepath", render=False)
