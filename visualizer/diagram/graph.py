"""What the diagram draws, decided from the analysis records: shortcuts, and which records share a box.

``skips`` reads the joins the engine saw (ResNet's ``out + identity``) and walks each operand back through
the records' ``input_from`` to the point where the paths forked: the shorter path is the shortcut (empty for
an identity, ``downsample.0/.1`` for a projection). ``nodes`` lays the remaining records out in call order,
folded as asked:

* ``"none"``   — every record its own node (BatchNorm, activations and dropout as thin slabs);
* ``"blocks"`` — a conv or linear layer absorbs the BatchNorm / activation / dropout around it;
* ``"stages"`` — blocks folded, then consecutive units with the same output shape (VGG's convs between two
  pools, a ResNet stage's residual blocks) become one node with a count, unless listed in ``expanded``.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from visualizer.kinds import kind_of
from visualizer.records import Analysis, Join, LayerRecord

FOLDS = ("none", "blocks", "stages")
ADD_OPS = {"add", "add_"}


@dataclass
class Skip:
    """One residual shortcut: it leaves after ``source`` and is added back at ``join``.

    ``via``: the records on the shortcut path (none for an identity, ``[downsample.0, downsample.1]`` for a
    projection); ``target``: the record that reads the sum (``"output"`` when the sum is the model's output).
    """

    join: Join
    source: str
    target: str
    via: list[str]
    main: list[str]  # records on the main path, fork excluded
    block: str  # the residual block's module name, e.g. "layer2.0"

    @property
    def projection(self) -> bool:
        return bool(self.via_kinds & {"conv", "linear"})

    via_kinds: set[str] = field(default_factory=set)


def _fork(
    a: str, b: str, producers: dict[str, list[str]], order: dict[str, float]
) -> tuple[str, list[str], list[str]] | None:
    """Where the paths into ``a`` and ``b`` last split: ``(fork, path from fork to a, path from fork to b)``.

    Walks back from both at once, latest node first (producers always come earlier in call order), so it stops
    at the fork after visiting only the block between them — linear in the model's size over all joins.
    """
    parent: list[dict[str, str | None]] = [{a: None}, {b: None}]
    heap = [(-order.get(a, -1), 0, a), (-order.get(b, -1), 1, b)]
    while heap:
        _, side, node = heapq.heappop(heap)
        if node in parent[1 - side]:
            paths = []
            for s in (0, 1):  # fork → ... → operand, by following each side's parent pointers
                path, step = [], parent[s][node]
                while step is not None:
                    path.append(step)
                    step = parent[s][step]
                paths.append(path)
            return node, paths[0], paths[1]
        for p in producers.get(node, []):
            if p not in parent[side]:
                parent[side][p] = node
                heapq.heappush(heap, (-order.get(p, -1), side, p))
    return None


def _common_prefix(keys: Iterable[str]) -> str:
    parts = [k.split("#")[0].split(".") for k in keys]
    if not parts:
        return ""
    prefix = []
    for level in zip(*parts):
        if len(set(level)) != 1:
            break
        prefix.append(level[0])
    return ".".join(prefix)


def skips(analysis: Analysis) -> list[Skip]:
    """The residual shortcuts: two-operand additions outside any layer whose operands share a fork."""
    producers: dict[str, list[str]] = {r.key: list(r.input_from) for r in analysis.layers}
    for j in analysis.joins:
        producers[j.key] = [o for operand in j.inputs for o in operand]
    records = {r.key: r for r in analysis.layers}
    order = {r.key: r.index for r in analysis.layers}
    order.update({j.key: j.after + 0.5 for j in analysis.joins})
    order["input"] = -1
    out = []
    for j in analysis.joins:
        operands = [operand[0] for operand in j.inputs if operand]
        if j.op not in ADD_OPS or len(operands) != 2 or operands[0] == operands[1]:
            continue
        found = _fork(operands[0], operands[1], producers, order)
        if found is None:
            continue
        fork, *paths = found
        short, long = sorted(paths, key=len)
        if any(k.startswith("⊕") for k in short):  # the "shortcut" holds another join: not a simple skip
            continue
        target = j.consumers[0] if j.consumers else "output"
        main = [k for k in long if k in records]
        skip = Skip(
            j,
            fork,
            target,
            short,
            main,
            _common_prefix(main + short) or j.key,
            {kind_of(records[k]) for k in short if k in records},
        )
        out.append(skip)
    return out


# ---------------------------------------------------------------------------------------------- nodes


@dataclass
class Node:
    """One drawn thing on the main row: a layer (possibly with folded neighbours), a ⊕, or a folded stage."""

    kind: str  # conv, pool, linear, norm, act, dropout, identity, other, join, stage
    keys: list[str]  # records covered; keys[0] is the one the node stands for (its data-layer)
    shape: list[int] | None  # output shape without batch: [C, H, W] or [F]
    label: str = ""  # above the box: "conv 3×3", "max 2×2 /2", "layer3"
    count: int = 1  # stage nodes: units folded
    stage: str = ""  # stage nodes: their id (for expanding)
    join: str = ""  # join nodes: the join key ("⊕3")
    tail: str = ""  # the record (or join) whose output this node shows: what the next layer reads

    @property
    def key(self) -> str:
        return self.keys[0] if self.keys else self.join


def _shape(record: LayerRecord) -> list[int] | None:
    return list(record.output_shape[1:]) if record.output_shape and len(record.output_shape) >= 2 else None


def _window_label(record: LayerRecord) -> str:
    if record.kernel is None:
        return ""
    k = record.kernel
    text = f"{k[0]}×{k[1]}" if len(k) == 2 and k[0] != k[1] else "×".join([str(k[0])] * len(k))
    if record.stride and any(s != 1 for s in record.stride):
        text += f" /{record.stride[0]}" if len(set(record.stride)) == 1 else " /" + "×".join(map(str, record.stride))
    return text


def label_of(record: LayerRecord) -> str:
    kind = kind_of(record)
    if kind == "conv":
        text = "conv " + _window_label(record)
        if record.groups > 1:
            text += " dw" if record.input_shape and record.groups == record.input_shape[1] else f" g{record.groups}"
        return text
    if kind == "pool":
        if record.type.startswith("Adaptive"):
            return "adaptive " + ("avg" if "Avg" in record.type else "max")
        return ("max " if "Max" in record.type else "avg ") + _window_label(record)
    if kind == "linear":
        return "fc"
    if kind == "norm":
        return "BN" if "Batch" in record.type else record.type.replace("Norm", "N")[:6]
    if kind == "act":
        return record.type
    if kind == "dropout":
        return "drop"
    return record.type[:10]


def _row_nodes(row: Sequence[LayerRecord | Skip], fold: str) -> list[Node]:
    """Records and ⊕s in call order → nodes, folding BatchNorm / activation / dropout unless ``fold="none"``."""
    nodes: list[Node] = []
    pending: list[str] = []  # dropout waiting for the layer it precedes (AlexNet's Dropout → Linear)
    for item in row:
        if isinstance(item, Skip):
            j = item.join
            nodes.append(Node("join", [], j.output_shape[1:] if j.output_shape else None, "+", join=j.key, tail=j.key))
            continue
        r, kind = item, kind_of(item)
        prev = nodes[-1] if nodes else None
        if fold != "none" and prev is not None and r.input_from == [prev.tail]:
            absorbs = {"conv": ("norm", "act", "dropout"), "linear": ("norm", "act", "dropout"), "join": ("act",)}.get(
                prev.kind, ()
            )
            if kind in absorbs:  # conv + BN + ReLU is one box; the ReLU after ⊕ is drawn with the ⊕
                prev.keys.append(r.key)
                prev.tail = r.key
                continue
        if fold != "none" and kind == "dropout":
            pending.append(r.key)
            continue
        node = Node(kind, [r.key], _shape(r), label_of(r), tail=r.key)
        if pending and kind in ("conv", "linear"):
            node.keys += pending  # keys[0] stays the layer the node stands for
        elif pending:
            nodes.append(Node("dropout", pending, node.shape, "drop", tail=pending[-1]))
        pending = []
        nodes.append(node)
    if pending:
        nodes.append(Node("dropout", pending, nodes[-1].shape if nodes else None, "drop", tail=pending[-1]))
    return nodes


def nodes(analysis: Analysis, fold: str = "blocks", expanded: Iterable[str] = ()) -> tuple[list[Node], list[Skip]]:
    """The main row of nodes in call order, and the shortcuts drawn as arcs over it."""
    if fold not in FOLDS:
        raise ValueError(f"fold must be one of {', '.join(FOLDS)}, got {fold!r}")
    found = skips(analysis)
    on_arcs = {k for s in found for k in s.via}
    join_after: dict[int, list[Skip]] = {}
    for s in found:
        join_after.setdefault(s.join.after, []).append(s)
    # Records in call order; a skip's ⊕ goes right after the last record that fed it.
    row: list[LayerRecord | Skip] = []
    for r in analysis.layers:
        if r.key not in on_arcs:
            row.append(r)
        row.extend(join_after.get(r.index, []))
    out = _row_nodes(row, fold)
    if fold == "stages":
        out = _fold_stages(out, {s.join.key: s for s in found}, set(expanded))
    return out, found


def _units(row: list[Node], by_join: dict[str, Skip]) -> list[list[Node]]:
    """Group the row into units: a residual block (its main path nodes and ⊕), or a single node."""
    units: list[list[Node]] = []
    i = 0
    while i < len(row):
        node = row[i]
        if node.kind == "join" or not node.keys:
            units.append([node])
            i += 1
            continue
        # Does a later ⊕ close a block that starts here? Its main path's first record is in this node.
        block_end = None
        for j in range(i + 1, len(row)):
            if row[j].kind == "join":
                skip = by_join.get(row[j].join)
                if skip and skip.main and skip.main[0] in node.keys:
                    block_end = j
                break
        if block_end is None:
            units.append([node])
            i += 1
        else:
            units.append(row[i : block_end + 1])
            i = block_end + 1
    return units


def _unit_shape(unit: list[Node]) -> tuple | None:
    shape = unit[-1].shape
    return tuple(shape) if shape else None


def _fold_stages(row: list[Node], by_join: dict[str, Skip], expanded: set[str]) -> list[Node]:
    units = _units(row, by_join)
    out: list[Node] = []
    i = 0
    while i < len(units):
        unit = units[i]
        residual = unit[-1].kind == "join" and len(unit) > 1
        foldable = residual or (len(unit) == 1 and unit[0].kind == "conv")
        j = i + 1
        while foldable and j < len(units) and _unit_shape(units[j]) == _unit_shape(unit):
            other = units[j]
            other_residual = other[-1].kind == "join" and len(other) > 1
            if other_residual != residual or (not residual and other[0].kind != "conv"):
                break
            j += 1
        group = units[i:j]
        keys = [k for u in group for n in u for k in n.keys]
        if residual:  # the shortcut paths' layers belong to the stage too
            for u in group:
                skip = by_join.get(u[-1].join)
                keys += skip.via if skip else []
        if len(group) < 2 or keys[0] in expanded:
            out += [n for u in group for n in u]
        else:
            name = _common_prefix(keys) if residual else ""
            label = f"{name or group[0][0].label} ×{len(group)}"
            out.append(
                Node(
                    "stage",
                    keys,
                    list(_unit_shape(group[-1]) or []),
                    label,
                    count=len(group),
                    stage=keys[0],
                    tail=group[-1][-1].tail,
                )
            )
        i = j
    return out
