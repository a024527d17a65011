"""What each tab of the page shows: plain functions from plain values (str, int, PIL image) to plain
values (DataFrame, PIL image, Markdown text). No Gradio here; ``visualizer.ui`` wires them to components
and turns their ``ValueError``/``RuntimeError`` messages into warnings shown in the page."""
