"""Gradio pieces: the only part of the project that knows about components."""
