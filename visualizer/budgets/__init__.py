"""What one server may spend on one request, checked before anything is built or allocated.

A classroom shares one process: a student's 64-token VGG string, a batch of 8192 or a path typed into a box
must not take memory, disk or files from the others. ``limits`` holds the numbers (flags of ``app.py``),
``memory`` turns the analysis engine's parameter and activation counts into bytes and refuses what would
not fit, ``runs`` keeps the files the server owns (its runs' checkpoints, uploads) and nothing else,
``outputs`` writes the images a reply carries so that no reply can be cut short by another. ``cpu`` and
``cores`` share the cores: who goes first (nice values), and how many threads a run apart trains on while the
server answers.
"""

from visualizer.budgets.limits import BudgetError, Limits, configure, current

__all__ = ["BudgetError", "Limits", "configure", "current"]
