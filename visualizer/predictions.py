"""Top-k predictions with class names, and the caveat that random weights predict nothing."""
from __future__ import annotations

import numpy as np
import torch

RANDOM_WEIGHTS_NOTE = ("These weights are random (untrained): the predictions below are meaningless. "
                       "Load ImageNet weights or a training checkpoint to see real ones.")


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


def predictions_meaningful(source: str) -> bool:
    """Random weights classify at chance: their top-5 must be flagged, not shown as an answer."""
    return source != "random"


def prediction_note(source: str) -> str:
    """Text to show above the predictions table ("" when the weights were trained)."""
    return "" if predictions_meaningful(source) else RANDOM_WEIGHTS_NOTE


def predictions_table(predictions: list[tuple[str, float]]) -> list[list]:
    """Rows ``[rank, class, "12.3%"]`` for a table component."""
    return [[rank, name, f"{100.0 * prob:.1f}%"] for rank, (name, prob) in enumerate(predictions, start=1)]
