"""``visualizer.show(model)``: the whole page on a network of your own, from a notebook or a script.

    from visualizer import show
    page = show(VGG19())                     # inline in a Jupyter / Colab cell; a browser tab from a script
    page = show({"mine": net, "notes": VGG19()}, input_size="3x32x32")
    page.close()

The models are checked and put in the zoo (``visualizer.user_models.register_instance``: on a meta copy, their
weights untouched), then the page is served as ``python app.py`` serves it (``visualizer.ui.app.launch``), in a
thread of this process so the notebook stays usable. In a notebook Gradio shows the page in the cell
(``Blocks.launch(inline=None)`` checks ``gradio.utils.ipython_check()`` and displays an iframe; in Colab through
Colab's port proxy); from a plain script the page opens in the browser and ``show`` waits until Ctrl+C.

A second ``show`` closes the page of the first and serves the new one on the same port (the notebook's links
stay valid); without a page of ours running, the first free port from 7860 is taken.

This is the one module outside ``ui/`` that starts the page: it imports ``visualizer.ui.app`` (and so Gradio),
as ``app_cli.serve`` does; ``import visualizer`` stays light because ``visualizer.show`` is loaded on first use.
"""

from __future__ import annotations

import sys
import webbrowser
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gradio.utils import ipython_check
from torch import nn

from visualizer.ui.app import launch
from visualizer.user_models import UserModelError, register_instance


class Page:
    """The running page: ``.close()`` stops it, ``.url`` is where it answers, ``.app`` is the Gradio ``Blocks``
    (other attributes are the ``Blocks``' own). Its repr is one line, so a notebook cell ending in ``show(...)``
    prints the address, not Gradio's list of endpoints."""

    def __init__(self, app: Any, models: list[str]) -> None:
        self.app, self.models = app, models

    @property
    def url(self) -> str:
        return self.app.local_url

    @property
    def port(self) -> int:
        return self.app.server_port

    def close(self) -> None:
        self.app.close(verbose=False)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["app"], name)

    def __repr__(self) -> str:
        state = "running" if self.app.is_running else "closed"
        return f"<cnnviz page {state} at {self.app.local_url} showing {', '.join(self.models)}>"


_current: dict[str, Page] = {}  # the page the last show() started (one per process)


def _interactive() -> bool:
    """A notebook or a Python prompt: show() returns at once. A plain script: it opens a tab and waits."""
    return ipython_check() or bool(getattr(sys, "ps1", sys.flags.interactive))


def _named(models: nn.Module | Mapping[str, nn.Module], name: str | None) -> dict[str | None, nn.Module]:
    if isinstance(models, Mapping):
        if name is not None:
            raise UserModelError("show({name: model, …}) names its models by the keys; leave name= out")
        if not models:
            raise UserModelError("show({}) has no model to show; pass a model, or {'mine': model}")
        return dict(models)
    return {name: models}


def show(
    models: nn.Module | Mapping[str, nn.Module],
    input_size: str | Sequence[int] = "3x32x32",
    *,
    name: str | None = None,
    class_names: Sequence[str] | None = None,
    weights: str | Path | dict | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
    block: bool | None = None,
    open_browser: bool | None = None,
) -> Page:
    """Serve the page with ``models`` in every model picker; returns the running ``Page`` (``.close()``).

    ``models``: an ``nn.Module`` (listed under its class name, or ``name``) or ``{name: module}``. Their current
    weights are the ones the page calls their own (weight source "own"; "auto" picks them). ``weights``: a
    ``.pt`` file (state_dict or a trainer's checkpoint) or a state_dict to use instead (loaded into a copy).
    ``class_names``: what the head's outputs mean (default: CIFAR-10's for 10 outputs, ImageNet's for 1000).
    ``block`` / ``open_browser``: default to True from a plain script, False in a notebook or at a prompt.
    """
    named = _named(models, name)
    if weights is not None and len(named) > 1:
        raise UserModelError("weights= loads into one model; for several, show({'a': a, 'b': b}) with their weights")
    shown = [
        register_instance(m, input_size, name=n, class_names=class_names, weights=weights, replace=True)
        for n, m in named.items()
    ]
    previous = _current.pop("page", None)
    if previous is not None:
        port = port or previous.port  # the same address as before, so a notebook's links keep working
        previous.close()
    try:  # every tab's model picker starts on the first model
        app = launch(host=host, port=port, prevent_thread_lock=True, default_model=shown[0])
    except OSError as exc:  # Gradio: "Cannot find empty port in range: 7860-7860"
        raise UserModelError(f"cannot serve on port {port}: {exc}; show(..., port=None) takes a free one") from None
    page = Page(app, shown)
    _current["page"] = page
    interactive = _interactive()
    if open_browser if open_browser is not None else not interactive:
        webbrowser.open(page.url)
    if block if block is not None else not interactive:
        app.block_thread()  # until Ctrl+C, as a script's plt.show() waits for its window
    return page


__all__ = ["Page", "show"]
