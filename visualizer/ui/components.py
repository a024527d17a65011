"""Components and choices more than one tab uses.

``ImageUpload`` subclasses a Gradio component, so Gradio writes ``components.pyi`` (its event stubs) beside this
file on import; git ignores it.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

import zoo

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
        if payload is None or payload.path is None or (payload.url or "").startswith("data:"):
            return super().preprocess(payload)
        return payload.path
