"""docs/cnnviz.ipynb: executed, with small outputs, and its code still runs against today's API."""

from __future__ import annotations

import json
from pathlib import Path

NOTEBOOK = Path(__file__).resolve().parents[1] / "docs" / "cnnviz.ipynb"


def test_notebook_is_executed_and_small():
    nb = json.loads(NOTEBOOK.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code and all(c["execution_count"] for c in code) and sum(bool(c["outputs"]) for c in code) >= 6
    assert not any(o["output_type"] == "error" for c in code for o in c["outputs"])
    html = [o["data"]["text/html"] for c in code for o in c["outputs"] if "text/html" in o.get("data", {})]
    assert html and "MACs (weights only)" in "".join(html[0])  # an Analysis showed itself as HTML
    assert "<svg" in "".join(html[0]) and 'data-layer="features.0"' in "".join(html[0])  # with its diagram
    assert NOTEBOOK.stat().st_size < 100_000


def test_notebook_code_runs():
    nb = json.loads(NOTEBOOK.read_text())
    namespace = {"display": lambda *args, **kwargs: None, "print": lambda *args, **kwargs: None}
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), "cnnviz.ipynb", "exec"), namespace)
    assert namespace["s"].rows[0].textbook_macs_per_position == 2 * 3 * 3 * 64 * 64
