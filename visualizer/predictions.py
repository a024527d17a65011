"""Top-k predictions with class names, and the caveat that random weights predict nothing."""

from __future__ import annotations

import numpy as np
import torch

import zoo

RANDOM_WEIGHTS_NOTE = (
    "These weights are random (untrained): the predictions below are meaningless. "
    "Load ImageNet weights or a training checkpoint to see real ones."
)
RANDOM_WEIGHTS_NOTE_KO = (
    "무작위(학습되지 않은) 가중치입니다: 아래 예측은 의미가 없습니다. "
    "실제 예측을 보려면 ImageNet 가중치나 학습 체크포인트를 불러오세요."
)


def top_k(logits: torch.Tensor | np.ndarray, class_names: list[str], k: int = 5) -> list[tuple[str, float]]:
    """The ``k`` most probable classes as ``(name, softmax probability)``, most probable first."""
    scores = torch.as_tensor(logits).detach().float().cpu()
    if scores.dim() == 2 and scores.shape[0] == 1:
        scores = scores[0]
    if scores.dim() != 1:
        raise ValueError(f"expected logits for one image (shape (N,) or (1, N)), got {tuple(scores.shape)}")
    if len(class_names) != scores.numel():
        raise ValueError(f"{scores.numel()} logits but {len(class_names)} class names; they must match")
    probs = torch.softmax(scores, dim=0)
    values, indices = probs.topk(min(k, probs.numel()))
    return [(class_names[i], float(p)) for p, i in zip(values.tolist(), indices.tolist())]


UNTRAINED_HEAD_NOTE = (
    "Only the convolutional layers carry ImageNet weights; the {dataset} classifier head is "
    "untrained, so the predictions below are meaningless until it is fine-tuned."
)
UNTRAINED_HEAD_NOTE_KO = (
    "ImageNet 가중치는 합성곱층에만 있고 {dataset} 분류기는 학습되지 않았습니다: 미세 조정하기 전까지 아래 예측은 "
    "의미가 없습니다."
)


def _untrained_head(source: str, model_name: str | None) -> str | None:
    """The dataset of a model whose ImageNet source only covers its features (vgg19_finetune_cifar)."""
    if source != "imagenet" or not model_name:
        return None
    dataset = zoo.get_spec(model_name).dataset
    return None if dataset == "imagenet" else dataset


def predictions_meaningful(source: str, model_name: str | None = None) -> bool:
    """Random weights classify at chance: their top-5 must be flagged, not shown as an answer. So must an
    ImageNet-initialised backbone under a fresh CIFAR-10 head (pass ``model_name`` to catch that case)."""
    return source != "random" and _untrained_head(source, model_name) is None


def prediction_note(source: str, model_name: str | None = None, lang: str = "en") -> str:
    """Text to show above the predictions table ("" when the weights were trained); ``lang="ko"``: in Korean."""
    ko = str(lang).lower().startswith("ko")
    if source == "random":
        return RANDOM_WEIGHTS_NOTE_KO if ko else RANDOM_WEIGHTS_NOTE
    dataset = _untrained_head(source, model_name)
    note = UNTRAINED_HEAD_NOTE_KO if ko else UNTRAINED_HEAD_NOTE
    return note.format(dataset=dataset.upper().replace("CIFAR10", "CIFAR-10")) if dataset else ""
