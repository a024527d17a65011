"""VGG-style networks from a config string, so a teacher can build their own network in class.

``vgg:64,64,M,128,128,M`` — numbers are 3×3 conv widths (padding 1), ``M`` a 2×2 max-pool;
``vgg_bn:...`` adds BatchNorm after each conv. The head is global average pooling and one linear
layer, so the network takes any input size that survives its pools.
"""

from __future__ import annotations

import torch
from torch import nn

from zoo.cifar import make_vgg_features

PREFIXES = {"vgg:": False, "vgg_bn:": True}
MAX_WIDTH = 4096
MAX_TOKENS = 64
EXAMPLE = "vgg:64,64,M,128,128,M,256,256,M"


class ConfigError(ValueError):
    """A custom VGG config string that cannot be built; the message points at the bad token."""


def quoted(text: object, limit: int = 60) -> str:
    """``repr(text)``, cut in the middle when long: an error quotes what was typed, not 10 KB of it."""
    r = repr(text)
    return r if len(r) <= limit else f"{r[: limit // 2]}…{r[-(limit // 2) :]} ({len(str(text)):,} characters)"


def is_custom_name(name: str) -> bool:
    return name.strip().lower().startswith(tuple(PREFIXES))


def parse_config(text: str) -> tuple[list[int | str], bool]:
    """Parse ``vgg[_bn]:64,M,...`` into (cfg list, batch_norm)."""
    s = text.strip()
    prefix = next((p for p in PREFIXES if s.lower().startswith(p)), None)
    if prefix is None:
        raise ConfigError(f"custom config {quoted(text)} must start with 'vgg:' or 'vgg_bn:', e.g. {EXAMPLE!r}")
    body = s[len(prefix) :]
    tokens = [t.strip() for t in body.split(",")]
    if body.strip() == "":
        raise ConfigError(f"custom config {text!r} has no layers after {prefix!r}; e.g. {EXAMPLE!r}")
    if len(tokens) > MAX_TOKENS:
        raise ConfigError(f"custom config has {len(tokens)} layers; at most {MAX_TOKENS} are allowed")
    cfg: list[int | str] = []
    for i, tok in enumerate(tokens, start=1):
        where = f"token {i} {quoted(tok, 30)} in {quoted(text.strip())}"
        # isdecimal, not isdigit: '²' is a digit to Python but not a number int() reads; at most 5 digits
        # before converting (10 KB of them would hit Python's own int-size limit instead of this message).
        if tok.upper() == "M":
            cfg.append("M")
        elif tok.isdecimal() and len(tok) <= 5 and 1 <= int(tok) <= MAX_WIDTH:
            cfg.append(int(tok))
        elif tok == "":
            raise ConfigError(f"{where} is empty (two commas in a row?); use widths like 64 and 'M' for pooling")
        else:
            odd = next((c for c in tok if c.isdigit() and not c.isdecimal()), None)
            why = f" ({odd!r} is not a plain digit: type it as 0-9)" if odd else ""
            raise ConfigError(
                f"{where} is not a conv width (an integer from 1 to {MAX_WIDTH}) or 'M' (2×2 max-pool){why}"
            )
    if not any(isinstance(v, int) for v in cfg):
        raise ConfigError(f"custom config {quoted(text)} has no conv layer; add at least one width, e.g. {EXAMPLE!r}")
    return cfg, PREFIXES[prefix]


class CustomVGG(nn.Module):
    def __init__(self, cfg: list[int | str], batch_norm: bool, num_classes: int = 10) -> None:
        super().__init__()
        self.features = make_vgg_features(cfg, batch_norm)
        last = [v for v in cfg if v != "M"][-1]
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(int(last), num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def build_custom(text: str, num_classes: int = 10) -> CustomVGG:
    cfg, bn = parse_config(text)
    return CustomVGG(cfg, bn, num_classes)


def canonical_name(text: str) -> str:
    """``vgg: 64, m,128`` → ``vgg:64,M,128`` (one spelling per network, for caches and titles)."""
    cfg, bn = parse_config(text)
    return ("vgg_bn:" if bn else "vgg:") + ",".join(str(v) for v in cfg)
