"""The Gradio page (grows as the analysis, features and training views land)."""
from __future__ import annotations

import gradio as gr

import zoo


def build_demo() -> gr.Blocks:
    with gr.Blocks(title="CNN visualizer") as demo:
        gr.Markdown("# CNN architecture visualizer\nModels: " + ", ".join(zoo.list_models()))
    return demo


def launch(host: str = "127.0.0.1", port: int = 7860, share: bool = False, auth: str | None = None) -> None:
    build_demo().launch(server_name=host, server_port=port, share=share)
