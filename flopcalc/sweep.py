"""Sweeps: FLOPs of many configs at once, over lists, ranges and grids of dimensions.

Two exact paths give the same ints (tests/test_sweep*.py check this):

- ``flop_report`` per point: the reference, used for small sweeps.
- compiled: the int arithmetic ``flop_report`` does, recorded once by running the same
  builders and RULES over traced sizes (``tracing``, no sympy) and written out as one plain
  Python function of the sizes that vary (``compile_model``). Used from ``FAST_FROM``
  points up.

An invalid point (n_heads not dividing d_model, seq_len > n_positions, ...) stops the sweep
with an error naming it, or is left out with ``skip_invalid`` (counted in the notes).
"""

from __future__ import annotations

import gc
import math
import re
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from dataclasses import fields as dataclass_fields
from fractions import Fraction
from functools import lru_cache
from typing import NamedTuple
from itertools import chain, islice, repeat
from itertools import count as count_from
from operator import add, floordiv, itemgetter, mod, mul, rshift, sub

from .analysis import flop_report, resolve
from .architecture import Architecture, Workload, rotary_width
from .config import BIAS_FIELDS, WHOLE_NUMBER, Config, Conventions, FlopcalcError, Mode, fits
from .tables import CSV_PLACES, exact_cell, exact_text

# Sweepable dimensions: the model's and workload's (GPT-2's first, then the sizes of the other
# families), then Mode fields; value: the CLI option (cli.py's Dimension tables, which a test
# keeps the same)
CONFIG_AXES = {"d_model": "--d-model", "n_heads": "--n-heads", "n_layers": "--n-layers",
               "d_ff": "--d-ff", "vocab": "--vocab", "n_positions": "--n-positions",
               "seq_len": "--seq-len", "batch": "--batch", "n_kv_heads": "--n-kv-heads",
               "d_head": "--d-head", "sliding_window": "--window",
               "rotary_dims": "--rotary-dims",
               # experts and latent attention (cli.EXPERT_SIZES)
               "n_experts": "--n-experts", "top_k": "--top-k", "d_expert": "--d-expert",
               "d_shared": "--d-shared", "n_groups": "--n-groups",
               "topk_groups": "--topk-groups", "q_lora_rank": "--q-lora-rank",
               "kv_lora_rank": "--kv-lora-rank", "qk_nope_head_dim": "--qk-nope-head-dim",
               "qk_rope_head_dim": "--qk-rope-head-dim", "v_head_dim": "--v-head-dim"}
WORKLOAD_AXES = ("seq_len", "batch")
MODE_AXES = {"position": "--position", "prompt": "--prompt", "new_tokens": "--new-tokens"}
AXES = {**CONFIG_AXES, **MODE_AXES}

FAST_FROM = 64            # below this many points, flop_report per point (~0.3 ms) is
#                           quicker than compiling (~3 ms, 8 ms for DeepSeek-V3)
MAX_POINTS = 10_000_000
CHUNK = 10_000            # points between progress callbacks, rows per written chunk
TABLE_MAX_ROWS = 100_000  # a longer sweep is no table to read: CSV and JSON stream it

_SYNTAX = "use a list like 256,512,768 or a range START:STOP:+STEP or START:STOP:xFACTOR"
_RANGE = re.compile(rf"({WHOLE_NUMBER}):({WHOLE_NUMBER}):([+x])([0-9]+)")


class Geometric(Sequence):
    """``start, start·factor, start·factor², …``: ``count`` values, each made when asked for
    (a range to a 20,000-digit bound holds 66,000 values of up to 20,000 digits)."""

    def __init__(self, start: int, factor: int, count: int):
        self.start, self.factor, self.count = start, factor, count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i):
        if isinstance(i, slice):
            return tuple(self)[i]
        if i < 0:
            i += self.count
        if not 0 <= i < self.count:
            raise IndexError(i)
        return self.start * self.factor ** i

    def __iter__(self):
        value = self.start
        for _ in range(self.count):
            yield value
            value *= self.factor

    def __repr__(self) -> str:
        return f"Geometric({self.start}, {self.factor}, {self.count})"


@dataclass(frozen=True)
class Axis:
    """One swept dimension and its values, in order: a tuple for a list, a ``range`` or a
    ``Geometric`` for a range, so that no value is made before it is needed."""

    name: str
    values: Sequence[int]
    geometric: bool = False   # a START:STOP:xFACTOR range (plotted on a log2 axis)


def geometric_count(start: int, stop: int, factor: int) -> int:
    """How many of start, start·factor, … are <= stop, by arithmetic on bit lengths and one
    or two powers (never the values themselves); 0 < start <= stop, factor >= 2."""
    # start·factor^k <= stop  <=>  factor^k <= stop // start (factor^k is whole)
    q = stop // start
    k = int((q.bit_length() - 1) / math.log2(factor))   # the estimate is off by at most one
    while k > 0 and factor ** k > q:
        k -= 1
    while factor ** (k + 1) <= q:
        k += 1
    return k + 1


def parse_axis(name: str, text: str) -> Axis:
    """``256,512,768``, ``128:1024:+128`` (arithmetic), ``128:8192:x2`` (geometric) or ``768``.

    STOP is included when the progression reaches it exactly. Every value must be a positive
    whole number. An axis of more than ``MAX_POINTS`` values is refused, counted before any
    value is made.
    """
    option = AXES.get(name, name)
    spec = text.strip()
    m = _RANGE.fullmatch(spec)
    if m:
        start, stop, kind, step = int(m[1]), int(m[2]), m[3], int(m[4])
        if start <= 0 or stop < start:
            raise FlopcalcError(f"{option} {text!r}: a range needs 0 < START <= STOP")
        if kind == "+" and step < 1 or kind == "x" and step < 2:
            raise FlopcalcError(f"{option} {text!r}: the step must be +1 or more, the factor "
                                "x2 or more")
        count = ((stop - start) // step + 1 if kind == "+"
                 else geometric_count(start, stop, step))
        if count > MAX_POINTS:
            raise FlopcalcError(f"{option} {text!r}: more than {MAX_POINTS:,} values")
        if kind == "+":
            return Axis(name, range(start, start + count * step, step))
        return Axis(name, Geometric(start, step, count), geometric=True)
    parts = spec.split(",")
    if len(parts) > MAX_POINTS:
        raise FlopcalcError(f"{option}: more than {MAX_POINTS:,} values")
    if not all(re.fullmatch(WHOLE_NUMBER, p.strip(" \t")) for p in parts):
        e = re.fullmatch(r"\s*(\d{1,20})[eE]\+?(\d{1,2})\s*", spec)
        hint = (f"whole numbers are written out ({int(e[1]) * 10 ** int(e[2])} for {spec})"
                if e else _SYNTAX)
        raise FlopcalcError(f"{option} {text!r}: not a list or range of whole numbers; "
                            f"{hint}")
    values = tuple(int(p) for p in parts)
    if min(values) <= 0:
        raise FlopcalcError(f"{option} {text!r}: values must be positive")
    return Axis(name, values)


@dataclass
class SweepResult:
    """Rows of a sweep: the swept values, each operation's FLOPs over the whole model (each
    layer group's operations times its repeat count: GPT-2's block times n_layers) and the
    total."""

    axes: tuple[Axis, ...]
    columns: tuple[str, ...]             # value columns: the swept names (+ a derived d_ff)
    ops: tuple[tuple[str, str], ...]     # (layer group, name) of each counted operation
    conventions: Conventions
    first: Config | None = None          # the first valid point's config, if it is GPT-2's
    first_mode: Mode | None = None       # and its resolved mode
    first_report: object = None          # its analysis.FlopReport (any architecture)
    rows: list[tuple[tuple[int, ...], tuple[int, ...], int]] = field(default_factory=list)
    blocks: object = None   # ``stream``'s: the rows as they are made, some as Blocks
    skipped: int = 0
    first_skipped: str = ""
    points: int = 0                      # the number of rows (known before ``stream``'s rows)
    regrouped: bool = False              # n_layers places windows or experts apart by point


def describe_point(names, values) -> str:
    return ", ".join(f"{n}={v}" for n, v in zip(names, values))


@lru_cache(maxsize=8)
def trace_model(conv: Conventions, mode: Mode, architecture: Architecture, workload: Workload,
                varying: frozenset):
    """(ops, arguments, results) of ``compile_model``: the (group, name) of each op, the
    index in ``a`` of each varying size, and the traced flops of each op and their total."""
    from types import SimpleNamespace

    from .analysis import mode_costs
    from .tracing import size

    if 0 < architecture.n_windowed < architecture.n_layers \
            and 0 < architecture.n_moe < architecture.n_layers:
        # (the windowed MoE layers' count n_wm): no argument carries it, so counted per point
        raise FlopcalcError("the compiled sweep has no argument for a size of these layers")
    used = model_args(architecture)
    first = {**vars(workload), **vars(mode)}
    sizes = {name: size(name) if name in varying else
             getattr(architecture, name) if hasattr(architecture, name) else first[name]
             for name in used}
    fields = {name: None if getattr(architecture, name) is None else sizes.get(name)
              for name in MODEL_ARGS if hasattr(architecture, name)}
    # no, every or some layers windowed (MoE): the layer groups the builders make
    for name in ("n_windowed", "n_moe"):
        fields[name] = {0: 0, architecture.n_layers: sizes["n_layers"]}.get(
            getattr(architecture, name), sizes.get(name))
    # Architecture.dims reads these fields; topk_groups only limits the valid points
    dims = Architecture.dims(SimpleNamespace(topk_groups=None, **fields,
                                             n_windowed_moe=architecture.n_windowed_moe),
                             sizes["batch"], sizes["seq_len"])
    traced = replace(mode, **{k: sizes[k] for k in MODE_AXES if getattr(mode, k) is not None})
    costs = mode_costs(architecture, dims, conv, traced)
    flops = [f * g.repeat for g, rows in costs for _, _, f in rows]
    return (tuple((g.name, op.name) for g, rows in costs for op, _, _ in rows),
            {n: i for i, n in enumerate(used) if n in varying}, (*flops, sum(flops)))


@lru_cache(maxsize=64)
def compile_model(conv: Conventions, mode: Mode, architecture: Architecture, workload: Workload,
                  varying: frozenset):
    """(ops, function): the per-operation FLOPs of ``mode`` (resolved) as one Python function
    of a list of ints ``a``, ordered as ``model_args(architecture)`` (the Architecture's,
    Workload's and resolved Mode's names), that returns (flops per op…, total), each op
    already times its group's repeat count. It reads the ``varying`` sizes from ``a``; every
    other size is the first point's, ``architecture``'s, ``workload``'s and ``mode``'s.

    Made by running ``analysis.mode_costs`` (the builders and RULES) once over traced sizes
    (``tracing``): the function does the int arithmetic ``flop_report`` does, so it gives
    the same ints at every point of the same structure (``_structure``: the same branches
    in the builders). No sympy."""
    from .tracing import function

    ops, arguments, results = trace_model(conv, mode, architecture, workload, varying)
    return ops, _defined(function("model_flops", arguments, results))


@lru_cache(maxsize=64)
def compile_columns(conv: Conventions, mode: Mode, architecture: Architecture,
                    workload: Workload, varying: frozenset, vector: frozenset):
    """``compile_model``'s function for many points at once (``tracing.column_function``):
    ``f(a, x)`` gives (a column of flops per op…, the totals' column) at the points of ``a``
    with the sizes named in ``vector`` (all in ``varying``) set to each value of ``x``."""
    from .tracing import column_function

    _, arguments, results = trace_model(conv, mode, architecture, workload, varying)
    return _defined(column_function("model_columns", arguments, vector, results))


def _defined(source: str):
    namespace: dict = {"add": add, "sub": sub, "mul": mul, "floordiv": floordiv,
                       "repeat": repeat}
    exec(compile(source, "<flopcalc.sweep compiled model>", "exec"), namespace)
    return namespace[source[4:source.index("(")]]


# the sizes the sweep sets at each point from others (``_rows``), and those they follow
FOLLOWS = {"d_head": ("d_model", "n_heads", "qk_nope_head_dim", "qk_rope_head_dim"),
           "n_kv_heads": ("n_heads",), "d_ff": ("d_model",),
           "rotary_dims": ("d_head", "qk_rope_head_dim"), "n_windowed": ("n_layers",),
           "n_moe": ("n_layers",), "position": ("seq_len",), "prompt": ("seq_len",)}


def varying_sizes(names) -> frozenset:
    """The sizes that may change from point to point when ``names`` are swept."""
    varying = set(names)
    for size, follows in FOLLOWS.items():
        if varying.intersection(follows):
            varying.add(size)
    return frozenset(varying)


def _structure(arch: Architecture) -> tuple:
    """What the compiled function assumes beyond the family and switches: whether the heads
    split d_model (GPT-2's builder has no other heads), whether a window is set, and whether
    none, some or all layers are windowed, and none, some or all are MoE."""
    return (arch.d_head * arch.n_heads == arch.d_model and arch.n_kv_heads == arch.n_heads,
            arch.sliding_window is None,
            {0: 0, arch.n_layers: 2}.get(arch.n_windowed, 1),
            {0: 0, arch.n_layers: 2}.get(arch.n_moe, 1))


def _reference_ops(report) -> tuple:
    return tuple((r.group, r.op.name) for r in report.rows)


def _row_under(ops: tuple, report) -> tuple:
    """A point's per-operation FLOPs under the columns ``ops`` (the first point's), and its
    total. Windows or experts placed anew at another n_layers group the layers otherwise:
    then a column named NAME alone (one group of the first point had it) takes that
    operation of every group, a GROUP.NAME column that group's, and 0 where the point has
    none; the total is the point's whole count (an operation of a group the first point
    lacks is in the total only, as the notes say)."""
    row = tuple(r.flops * r.times for r in report.rows)
    own = _reference_ops(report)
    if own == ops:
        return row, report.total
    key_of = {(g, n): (g, n) if c != n else n for (g, n), c in zip(ops, op_columns(ops))}
    flops = dict.fromkeys(key_of.values(), 0)
    for (g, n), value in zip(own, row):
        key = (g, n) if (g, n) in flops else n
        if key in flops:
            flops[key] += value
    return tuple(flops[key_of[op]] for op in ops), report.total


def check_axes(axes: list[Axis]) -> int:
    """The number of points of the grid, after checking the axes."""
    names = [a.name for a in axes]
    unknown = [n for n in names if n not in AXES]
    if unknown:
        raise FlopcalcError(f"cannot sweep {', '.join(unknown)}; sweepable: {', '.join(AXES)}")
    if len(set(names)) != len(names):
        raise FlopcalcError("each dimension can be swept once")
    count = 1
    for a in axes:
        count *= len(a.values)
    if count > MAX_POINTS:
        raise FlopcalcError(f"the sweep has {count:,} points; at most {MAX_POINTS:,}")
    return count


def check_table_size(points: int) -> None:
    """Refuse a terminal or Markdown table of more than ``TABLE_MAX_ROWS`` points (the table
    is built whole; CSV and JSON are written as the rows are made), saying how to write the
    sweep to a file instead."""
    if points > TABLE_MAX_ROWS:
        raise FlopcalcError(f"the sweep has {points:,} points, too many to read as a table "
                            f"(at most {TABLE_MAX_ROWS:,}); write them to a file: --format "
                            "csv --output sweep.csv (or --format json)")


LAYERS_BY_N = "layers_by_n"  # a base's n_layers -> window_layers/moe_layers (no field)


def check_point(base: dict, names, values, mode: Mode) -> tuple[Architecture, Workload, Mode,
                                                                  Config | None]:
    """The point's Architecture, Workload, resolved Mode and (for GPT-2) Config, checked by
    them. ``base`` holds the fields that are not swept: Architecture fields, seq_len and
    batch (or a GPT-2 Config's fields); derived sizes (d_head, d_ff, …) not in it follow
    the point's. ``base[LAYERS_BY_N]``, when there, maps each swept n_layers to the layers
    the model places its windows and experts on (what --n-layers gives in ``flops``), or to
    the FlopcalcError saying why it places none (the point is invalid)."""
    point = {**base, **{n: v for n, v in zip(names, values) if n in CONFIG_AXES}}
    placed = point.pop(LAYERS_BY_N, {}).get(point.get("n_layers"), {})
    fields = {k: getattr(mode, k) for k in ("kind", "recompute", *MODE_AXES)}
    fields.update({n: v for n, v in zip(names, values) if n in MODE_AXES})
    try:
        if isinstance(placed, FlopcalcError):
            raise placed
        point.update(placed)
        config = Config.fields_of(point)
        if config is not None:  # GPT-2: checked by Config and Mode, as before
            cfg = Config(**config)
            return cfg.architecture, cfg.workload, Mode(**fields).resolved(cfg), cfg
        arch_fields = {k: v for k, v in point.items() if k not in WORKLOAD_AXES}
        if "bias" in arch_fields:
            bias = arch_fields.pop("bias")
            arch_fields.update({k: bias for k in BIAS_FIELDS})
        arch = Architecture(**arch_fields)
        workload = Workload(**{k: point[k] for k in WORKLOAD_AXES if k in point})
        return arch, workload, resolve(Mode(**fields), arch, workload), None
    except FlopcalcError as e:
        raise FlopcalcError(f"sweep point {describe_point(names, values)}: {e}"
                            f"{_hint(base, names, values, str(e))}") from None


def _hint(base: dict, names, values, message: str) -> str:
    """What to change when a point is invalid: the option to fix, and --skip-invalid."""
    point = ({f.name: f.default for f in dataclass_fields(Config)} | base
             | dict(zip(names, values)))
    d_model, heads = point["d_model"], point["n_heads"]
    skip = "add --skip-invalid to leave such points out"
    if (type(d_model) is int and type(heads) is int and heads > 0 and d_model % heads
            and "n_heads" in message and "must divide d_model" in message):
        return f"; give --n-heads a value that divides every d_model, or {skip}"
    if "exceeds n_positions" in message:  # (not "n_positions has about N digits")
        if "--n-positions" in message:       # Config already says to raise it
            return f" (or {skip})"
        return f"; raise --n-positions, or {skip}"
    return ""


# The compiled model's arguments, in order, named as the Architecture, Workload and resolved
# Mode keep them; then the sizes the point's validity also depends on (topk_groups)
MODEL_ARGS = ("batch", "seq_len", "d_model", "n_heads", "d_ff", "n_layers", "vocab",
              "n_positions", "position", "prompt", "new_tokens", "n_kv_heads", "d_head",
              "rotary_dims", "sliding_window", "n_windowed", "n_experts", "top_k", "d_expert",
              "d_shared", "n_moe", "n_groups", "q_lora_rank", "kv_lora_rank",
              "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim")
EXPERT_ARGS = MODEL_ARGS[16:22]
LATENT_ARGS = MODEL_ARGS[22:]


def model_args(arch: Architecture) -> tuple[str, ...]:
    """The compiled function's arguments for ``arch``: GPT-2's sixteen, then the experts'
    sizes if it has experts and latent attention's if it has that."""
    return (MODEL_ARGS[:16] + (EXPERT_ARGS if arch.n_experts is not None else ())
            + (LATENT_ARGS if arch.kv_lora_rank is not None else ()))


def run(base: dict, axes: list[Axis], conv: Conventions, mode: Mode,
        skip_invalid: bool = False, fast: bool | None = None, progress=None) -> SweepResult:
    """FLOPs at every point of the grid ``axes`` (cartesian product, last axis fastest) on top
    of ``base``, every row kept in ``rows`` (``stream`` makes them as they are read).

    ``base`` holds the Config fields that are not swept; ``mode`` the mode (its swept fields
    are set per point). An invalid point raises FlopcalcError naming it, or with
    ``skip_invalid`` is left out and counted. ``fast`` forces the compiled (True) or the
    per-point ``flop_report`` (False) path; None picks by size. ``progress(done, total)`` is
    called every ``CHUNK`` points.

    The reference path builds each point's Config and Mode, which check it. The compiled path
    does so until the first valid point (which checks every field that is not swept) and
    then asks ``config.fits`` (the cross-field rules Config and Mode use) on ints, since
    building 100,000 Configs alone would take most of the time budget. A point it rejects is
    built as a Config for the error message. tests/test_sweep.py checks both paths keep the
    same points.
    """
    result = _empty_result(axes, base, conv)
    with cycles_collected_after():
        result.rows = list(_rows(base, axes, conv, mode, skip_invalid, fast, progress, result))
    result.points = len(result.rows)
    _check_some_valid(result)
    return result


def stream(base: dict, axes: list[Axis], conv: Conventions, mode: Mode,
           skip_invalid: bool = False, progress=None, precheck: bool = True) -> SweepResult:
    """``run``, but ``rows`` is an iterator that computes each row when it is read, so a sweep
    of millions of points takes flat memory.

    A first pass over the grid checks every point (the quick ``config.fits`` test) without
    computing FLOPs, so everything but the rows is final when this returns: an invalid point
    has already raised (or, with ``skip_invalid``, been counted), and ``points`` is the
    number of rows to come. ``progress(done, total)`` follows both passes (the first half,
    then the second). Without ``precheck`` and ``skip_invalid`` (for a file written whole or
    not at all, which an invalid point found midway only discards) there is no first pass:
    every point must then be valid, so ``points`` is the grid's size, and reading the rows
    raises at the first invalid one.
    """
    total = check_axes(axes)
    if not (precheck or skip_invalid):
        result = _empty_result(axes, base, conv)
        items = _items(base, axes, conv, mode, False, None, progress, result)
        first = next(items)    # the header's first point (an invalid one raises here)
        result.blocks, result.points = chain([first], items), total
        result.rows = _flat(result.blocks)
        return result
    halves = (lambda done, _: progress(done, 2 * total),
              lambda done, _: progress(total + done, 2 * total)) if progress else (None, None)
    result = _empty_result(axes, base, conv)
    for _ in _items(base, axes, conv, mode, skip_invalid, None, halves[0], result, False):
        result.points += 1
    _check_some_valid(result)
    # the second pass repeats the first's bookkeeping (first point, skips) into a scratch copy
    scratch = _empty_result(axes, base, conv)
    result.blocks = _items(base, axes, conv, mode, skip_invalid, None, halves[1], scratch)
    result.rows = _flat(result.blocks)
    return result


def _empty_result(axes, base, conv) -> SweepResult:
    names = tuple(a.name for a in axes)
    derived_ff = base.get("d_ff") is None and "d_model" in names and "d_ff" not in names
    return SweepResult(tuple(axes), names + (("d_ff",) if derived_ff else ()), (), conv,
                       regrouped=_may_regroup(base, axes))


def _may_regroup(base: dict, axes) -> bool:
    """Whether the points' layers may group otherwise than the first point's: windows or
    experts placed anew at each swept n_layers (``LAYERS_BY_N``) in more than one way, or
    placed on fixed layers that are every layer at one swept n_layers (one group) and not at
    a larger one (two)."""
    placements = {repr(v) for v in base.get(LAYERS_BY_N, {}).values()
                  if not isinstance(v, FlopcalcError)}
    if len(placements) > 1:
        return True
    counts = next((a.values for a in axes if a.name == "n_layers"), None)
    if counts is None:
        return False
    largest = max(counts) if isinstance(counts, tuple) else counts[-1]  # (ranges ascend)
    # (fixed layers that are not 0..n-1 are every layer at no n_layers)
    return any(layers and tuple(layers) == tuple(range(len(layers)))
               and len(layers) in counts and largest > len(layers)
               for layers in (base.get("window_layers"), base.get("moe_layers")))


def _check_some_valid(result: SweepResult) -> None:
    if not result.points:
        raise FlopcalcError(f"no valid point in the sweep (the first: {result.first_skipped})")


def grid(axes: list[Axis]):
    """The points of the grid, last axis fastest, each made when asked for (itertools.product
    would first copy every axis into a tuple)."""
    if not axes:
        yield ()
        return
    *outer, last = axes
    values = last.values
    for head in grid(outer):
        for v in values:
            yield head + (v,)


def _rows(*args):
    """``run``'s rows one at a time (``_items``'s, Blocks taken apart)."""
    return _flat(_items(*args))


def _flat(items):
    for item in items:
        if type(item) is Block:
            yield from item.rows()
        else:
            yield item


def _items(base: dict, axes: list[Axis], conv: Conventions, mode: Mode, skip_invalid: bool,
           fast: bool | None, progress, result: SweepResult, evaluate: bool = True):
    """``run``'s rows, one at a time or many as a Block; the first valid point, the ops and
    the skipped points go into ``result``. Without ``evaluate``, only the points' validity is
    checked: one ``None`` per valid point, no FLOPs computed."""
    total_points = check_axes(axes)
    if fast is None:
        fast = total_points >= FAST_FROM
    # layers placed anew at each n_layers: each point counted as flops counts it (the
    # compiled model holds the first point's placement)
    fast = fast and LAYERS_BY_N not in base
    names = tuple(a.name for a in axes)
    derived_ff = len(result.columns) > len(names)

    def skip(values, error: FlopcalcError):
        if not skip_invalid:
            raise error
        result.skipped += 1
        result.first_skipped = result.first_skipped or describe_point(names, values)

    points, model = enumerate(grid(axes)), None
    for done, values in points:
        if progress and done % CHUNK == 0:
            progress(done, total_points)
        try:
            arch, load, m, cfg = check_point(base, names, values, mode)
        except FlopcalcError as e:
            skip(values, e)
            continue
        report = flop_report(arch, conv, m, load) if evaluate or result.first_report is None \
            else None
        if result.first_report is None:
            result.first, result.first_mode, result.first_report = cfg, m, report
            result.ops = _reference_ops(report)
            if fast:
                try:
                    ops, model = compile_model(conv, m, arch, load, varying_sizes(names))
                    assert ops == result.ops
                except FlopcalcError:  # layer groups only ints tell apart (common.py says why)
                    pass
        row = _row_under(result.ops, report) if evaluate else None
        yield (values + (arch.d_ff,) if derived_ff else values, *row) if evaluate else None
        if model is not None:  # the other points by the compiled model
            yield from _compiled_rows(points, model, result.ops, base, axes, conv, mode,
                                      arch, load, m, derived_ff, skip, evaluate, progress,
                                      total_points, done + 1)
            break
    if progress:
        progress(total_points, total_points)


def _compiled_rows(points, model, ops, base, axes, conv, mode, arch, load, m, derived_ff,
                   skip, evaluate, progress, total_points, start):
    """``_items`` after the first valid point (``arch``, ``load``, ``m``; the next point's
    index is ``start``), by the compiled ``model`` (whose columns are ``ops``): each point's
    sizes set from its values by the Architecture's rules, checked by ``config.fits`` and the
    rules Architecture checks, on ints. Where the last axis is a long one of ``RUN_AXES`` (seq_len, batch, top_k, …),
    its points are counted many at a time (``in_runs``), as Blocks."""
    names = tuple(a.name for a in axes)
    kind = mode.kind
    given = {k for k, v in base.items() if v is not None} | set(names)
    arg_names = model_args(arch)
    at = {**vars(load), **vars(m)}
    template = [getattr(arch, k) if hasattr(arch, k) else at[k] for k in arg_names]
    template = [0 if v is None else v for v in template]  # no window, no groups…
    # topk_groups is no argument of the formulas, only of the point's validity
    slots = [(arg_names.index(n), i) for i, n in enumerate(names) if n != "topk_groups"]
    tg_at = names.index("topk_groups") if "topk_groups" in names else None
    topk_groups = arch.topk_groups or 0
    latent = arch.kv_lora_rank is not None
    experts = arch.n_experts is not None
    dense = len(arg_names) == 16
    # where each size the point sets from others is in ``args``
    index = {name: i for i, name in enumerate(arg_names)}.get
    at_ff, at_kv, at_head, at_rot, at_windowed, at_position, at_prompt = map(index, (
        "d_ff", "n_kv_heads", "d_head", "rotary_dims", "n_windowed", "position", "prompt"))
    at_experts, at_top_k, at_moe, at_groups, at_nope, at_rope = map(index, (
        "n_experts", "top_k", "n_moe", "n_groups", "qk_nope_head_dim", "qk_rope_head_dim"))
    moe_layers = arch.moe_layers
    derive_head = "d_head" not in given and not latent
    derive_kv = "n_kv_heads" not in given and not latent
    derive_ff = derived_ff or "d_ff" not in given
    rotary = arch.positions == "rotary"
    learned = not rotary
    derive_rot = rotary and "rotary_dims" not in given and not latent
    share = arch.rotary_share
    window_layers = arch.window_layers
    # unset, unswept decode position / generation prompt: seq_len at each point (Mode.resolved)
    position_follows_l = kind == "decode" and mode.position is None and "position" not in names
    prompt_follows_l = kind == "generate" and mode.prompt is None and "prompt" not in names
    structure = _structure(arch)
    # whether a point can have another structure than the first (else no check)
    varies = (not (derive_head and derive_kv)
              or experts and moe_layers is not None and "n_layers" in names
              or window_layers is not None and "n_layers" in names)

    def point(values) -> tuple[list, bool | None]:
        """The point's arguments of ``model``, and whether ``model`` counts it (True), or
        flop_report does (False: another structure), or it is invalid (None)."""
        args = template.copy()
        for slot, i in slots:
            args[slot] = values[i]
        # (MODEL_ARGS' first sixteen, in their order)
        B, L, D, H, F, NL, V, P, t, p, n, KV, DH, ROT, W, NW = args if dense else args[:16]
        # the sizes that follow others when not given (Architecture's rules)
        if latent:  # latent attention fixes the head widths
            NOPE, ROPE = args[at_nope], args[at_rope]
            args[at_head] = DH = NOPE + ROPE
            args[at_kv] = KV = H
            args[at_rot] = ROT = ROPE
        if derive_head:
            args[at_head] = DH = D // H
        if derive_kv:
            args[at_kv] = KV = H
        if derive_ff:
            args[at_ff] = F = 4 * D
        if derive_rot:  # the model's share of the head (Architecture's rule)
            args[at_rot] = ROT = DH if share is None else rotary_width(DH, share)
        if window_layers is None and W:
            args[at_windowed] = NW = NL
        if experts:
            E, K, NM, G = args[at_experts], args[at_top_k], args[at_moe], args[at_groups]
            TG = topk_groups if tg_at is None else values[tg_at]
            if moe_layers is None:
                args[at_moe] = NM = NL
        else:
            NM = 0
        if position_follows_l:
            args[at_position] = t = L
        if prompt_follows_l:
            args[at_prompt] = p = L
        last = t if kind == "decode" else p + n - 1 if kind == "generate" else 0
        valid = (fits(D, H, L, P, last) if learned else not derive_head or not D % H) \
            and not H % KV and (not rotary or ROT <= DH and not ROT % 2) \
            and (window_layers is None or window_layers[-1] < NL) \
            and (not experts or K <= E and (moe_layers is None or moe_layers[-1] < NL)
                 and (not G or not E % G and TG <= G and K <= TG * (E // G))) \
            and (not latent or not ROPE % 2)
        if not valid:
            return args, None
        return args, not varies or (DH * H == D and KV == H, not W,
                                    0 if not W else {0: 0, NL: 2}.get(NW, 1),
                                    {0: 0, NL: 2}.get(NM, 1)) == structure

    def one_by_one(points):
        for done, values in points:
            if progress and done % CHUNK == 0:
                progress(done, total_points)
            args, by_model = point(values)
            if by_model is None:
                try:  # let Architecture, Config and Mode say what is wrong
                    check_point(base, names, values, mode)
                except FlopcalcError as e:
                    skip(values, e)
                    continue
                raise AssertionError(f"sweep rules disagree with Config at {values}")
            if not evaluate:
                yield None
                continue
            if by_model:
                flops = model(args)
                per_op, total = flops[:-1], flops[-1]
            else:  # another structure: this point counted by flop_report
                try:
                    arch_, load_, m_, _ = check_point(base, names, values, mode)
                    per_op, total = _row_under(ops, flop_report(arch_, conv, m_, load_))
                except FlopcalcError as e:  # a family's own rule (GPT-2's heads split d_model)
                    skip(values, e)
                    continue
            yield (values + (args[at_ff],) if derived_ff else values, per_op, total)

    # a long last axis of RUN_AXES: its points many at a time, over its values (and for
    # seq_len, the decode position or generation prompt that follows it)
    inner = axes[-1]
    if not in_runs(inner):
        yield from one_by_one(points)
        return
    vector = {inner.name} | ({"position"} if position_follows_l else set()) \
        | ({"prompt"} if prompt_follows_l else set()) if inner.name == "seq_len" else {inner.name}
    columns = compile_columns(conv, m, arch, load, varying_sizes(names), frozenset(vector))
    count = len(inner.values)

    size = min(RUN, CHUNK)

    def runs():
        for lo in range(0, count, size):
            run = list(inner.values[lo:lo + size])
            yield lo, run, max(run)

    kept = list(runs()) if count <= 4 * CHUNK else None   # the same lists for every head
    done, offset = start, start % count   # the first head from its point ``start`` on
    for head in islice(grid(axes[:-1]), start // count, None):
        for lo, run, top in kept or runs():
            if lo + len(run) <= offset:
                continue
            if lo < offset:  # the rest of the first run
                run = run[offset - lo:]
                top = max(run)
            n = len(run)
            if progress:
                progress(done, total_points)
            # checked at its largest value (RUN_AXES: the rules bound them from above, as
            # seq_len and a decode position or generation prompt that follows it are at most
            # n_positions, top_k at most n_experts; the structure is the same at every value)
            args, by_model = point(head + (top,))
            if not by_model or model(args)[-1].bit_length() * n > CHUNK_BITS:
                yield from one_by_one(zip(count_from(done), (head + (v,) for v in run)))
            elif evaluate:
                flops = columns(args, run)
                yield Block([[v] * n for v in head] + [run]
                            + ([[args[at_ff]] * n] if derived_ff else []), list(flops[:-1]),
                            flops[-1])
            else:
                yield from repeat(None, n)
            done += n
        offset = 0


RUN_FROM = 32   # a last axis of this many RUN_AXES values is counted in runs
RUN = 2000      # of at most this many values: a chunk's columns and texts stay small
# The sizes that the rules (``_compiled_rows``'s ``point``) bound from above only, or not at
# all, and that no layer grouping (``_structure``) depends on: a run of them that is valid at
# its largest value is valid at every value, and one traced function counts it all (the
# builders cannot branch on a traced size)
RUN_AXES = (*WORKLOAD_AXES, "top_k", "vocab", "d_expert", "d_shared", "position", "prompt",
            "new_tokens")


def in_runs(axis: Axis) -> bool:
    """Whether the compiled path counts the points of ``axis``, the last, in runs of up to
    CHUNK values (Blocks, each by one call of a ``compile_columns`` function): a long axis
    of one of ``RUN_AXES`` with values below 2³²."""
    values = axis.values
    return (axis.name in RUN_AXES and isinstance(values, (range, tuple))
            and len(values) >= RUN_FROM and max(values) < 1 << 32)


class Block(NamedTuple):
    """Rows of consecutive points as columns: the values (one column per value column of the
    result), the flops of each op, and the totals."""

    values: list
    per_op: list
    totals: list

    def rows(self):
        return zip(zip(*self.values), zip(*self.per_op), self.totals)


_PERCENT = [f"{h // 100}.{h % 100:02d}%" for h in range(10001)]  # 0.00% … 100.00%
_PLAIN = [p[:-1] for p in _PERCENT]                                  # 0.00 … 100.00 (CSV)
_RANK = {p: h for h, p in enumerate(_PERCENT)}


def shares(per_op, total, plain: bool = False) -> list[str]:
    """Each part's share of ``total`` (parts are non-negative and sum to it) exactly as
    ``tables.percent`` writes it (``plain``: without the ``%``, empty for no total)."""
    return [column[0] for column in share_columns([(f,) for f in per_op], (total,), plain)]


def share_columns(columns, totals, plain: bool = False,
                  separator: str = "") -> list[list[str]]:
    """``shares`` of many rows, a column at a time: for each of ``columns`` (one part in
    each row) its share of the row's total in ``totals``, by table look-up and C-level maps
    (sweeps write millions). With a ``separator``, each column's texts but the last's end
    with it (a writer's text between two shares: one piece of text fewer per share)."""
    tables = [_share_texts(plain, separator), _share_texts(plain, "")]
    # percent's (20000·f + t) // 2t in hundredths of a percent is (10000·f + t // 2) // t
    # (for odd t, the dropped half never reaches the next multiple of t), a third quicker
    halves = list(map(rshift, totals, repeat(1)))
    some_zero = not all(totals)
    divisors = [t or 1 for t in totals] if some_zero else totals  # (no total: no share, below)
    columns = list(columns)
    out, done = [], []     # equal columns (DeepSeek-V3's gate, up and down) computed once
    for k, column in enumerate(columns):
        look_up = tables[k == len(columns) - 1]
        if not any(column):  # no FLOPs (an embedding lookup)
            out.append([look_up[0]] * len(totals))
            continue
        # (the same list, or an equal one: a comparison stops at the first value that differs)
        texts = next((t for c, t in done if c is column or c == column), None)
        if texts is None:
            hundredths = list(map(floordiv, map(add, map(
                mul, column, repeat(10000)), halves), divisors))
            texts = {id(look_up): list(map(look_up.__getitem__, hundredths)), 0: hundredths}
            done.append((column, texts))
        elif id(look_up) not in texts:  # (the last column's texts: without the separator)
            texts[id(look_up)] = list(map(look_up.__getitem__, texts[0]))
        out.append(texts[id(look_up)])
    for i in (i for i, t in enumerate(totals) if not t) if some_zero else ():
        for k, column in enumerate(out):
            column[i] = ("" if plain else "–") + (separator if k < len(out) - 1 else "")
    return out


@lru_cache(maxsize=8)
def _share_texts(plain: bool, separator: str) -> list[str]:
    """The text of each share in hundredths of a percent (``_PERCENT`` or ``_PLAIN``), each
    followed by ``separator``."""
    texts = _PLAIN if plain else _PERCENT
    return [text + separator for text in texts] if separator else texts


def op_columns(ops) -> list[str]:
    """Each operation's column name: its name, or GROUP.NAME where several layer groups have
    an operation of that name (Gemma 2's sliding and full blocks)."""
    names = [n for _, n in ops]
    return [n if names.count(n) == 1 else f"{g}.{n}" for g, n in ops]


def _groups_apart(result: SweepResult) -> str | None:
    """The repeat counts of the block groups told apart in the columns, or None."""
    if op_columns(result.ops) == [n for _, n in result.ops]:
        return None
    return ", ".join(f"{g.name} ×{g.repeat}" for g in result.first_report.block_groups)


def first_fields(result: SweepResult) -> dict:
    """The first point's model: its Config's fields for GPT-2, else the Architecture's with
    seq_len and batch."""
    if result.first is not None:
        return result.first.as_dict()
    report = result.first_report
    return {**report.architecture.as_dict(), **vars(report.workload)}


def token_slots(result: SweepResult) -> tuple:
    """How a row's tokens (``tables.tokens_of``: B·L, the B new tokens of a decode step, or
    the B·n generated tokens) follow from its values: two factors, each ``(index, None)`` for
    a swept value or ``(None, value)`` for one fixed at the first point's."""
    report, names = result.first_report, result.columns
    mode, load = report.mode, report.workload

    def factor(name: str, fixed: int) -> tuple:
        return (names.index(name), None) if name in names else (None, fixed)

    other = (None, 1) if mode.kind == "decode" else factor("new_tokens", mode.new_tokens) \
        if mode.kind == "generate" else factor("seq_len", load.seq_len)
    return factor("batch", load.batch), other


def point_tokens(result: SweepResult):
    """A function from a row's values to the tokens its FLOPs are per (``token_slots``)."""
    (i, b), (j, o) = token_slots(result)
    return lambda values: (b or values[i]) * (o or values[j])


def per_token_column(values, totals, result: SweepResult, how: str = "csv") -> list:
    """The total per token of each row (its ``values`` and of ``totals``), as ``how`` wants
    it: "table" (an int, or ``tables.exact_cell``), "csv" (its plain number) or "json"
    (exact: ``"n"`` or ``"n/d"``). Written for millions of rows: one division each, by
    C-level maps when every quotient is whole, the usual case."""
    return per_token_cells(lambda k: map(itemgetter(k), values), totals, result, how)


def per_token_cells(column, totals, result: SweepResult, how: str = "csv") -> list:
    """``per_token_column`` of rows whose values' column ``k`` is ``column(k)``."""
    (i, b), (j, o) = token_slots(result)
    if i is None and j is None:
        tokens = [b * o] * len(totals)
    elif i is None:  # (a batch of one, the usual: the swept column itself)
        tokens = list(column(j) if b == 1 else map(mul, repeat(b), column(j)))
    elif j is None:
        tokens = list(column(i) if o == 1 else map(mul, column(i), repeat(o)))
    else:
        tokens = list(map(mul, column(i), column(j)))
    if not any(map(mod, totals, tokens)):  # every quotient whole
        whole = map(floordiv, totals, tokens)
        return list(whole if how == "table" else map(repr, whole))
    return [(q if how == "table" else str(q)) if not r else _per_token(total, t, how)
            for (q, r), total, t in zip(map(divmod, totals, tokens), totals, tokens)]


def _per_token(total: int, tokens: int, how: str):
    """``total / tokens`` (not whole) as ``per_token_column``'s ``how`` wants it."""
    x = Fraction(total, tokens)
    if how == "json":
        return exact_text(x, separators=False)
    cell = exact_cell(x)
    return cell if how == "table" else cell.plain


def per_token_note(result: SweepResult) -> str:
    kind = result.first_report.mode.kind
    tokens = {"decode": "the B new tokens (one per sequence)",
              "generate": "the B·n generated tokens"}.get(kind, "the B·L tokens of the batch")
    return (f"FLOPs per token: the row's total ÷ {tokens} at its point; exact: a whole number, "
            "a decimal that ends, or a fraction n/d (CSV: rounded half up to "
            f"{CSV_PLACES} decimals where the decimal does not end).")


def sweep_table(result: SweepResult, approximate: bool = True):
    """One row per point: the swept values, the total (and its ``≈`` when ``approximate``) and
    each operation's share of it (without ``approximate``, for CSV: plain numbers, no ``%``)."""
    from .tables import Table, flop_unit, model_note, readable

    conv = result.conventions
    unit = flop_unit(conv)
    swept = "; ".join(f"{a.name} {_axis_text(a)}" for a in result.axes)
    notes = [model_note(result.first_report) + " (the first point)", f"Swept: {swept}.",
             f"Conventions: {conv.describe(result.first_report.architecture)}",
             f"Mode: {result.first_mode.describe()}"
             + (" (at the first point)" if any(a.name in MODE_AXES for a in result.axes) else ""),
             f"Each 'NAME %' column is the operation's share of the row's total {unit}s, "
             + ("a block operation's over all n_layers blocks" if _groups_apart(result) is None
                else f"a block operation's over all the blocks of its group (GROUP.NAME: "
                     f"{_groups_apart(result)})")
             + f". {result.points:,} points.", per_token_note(result)]
    if result.regrouped:
        notes.append("Windows or experts are placed on each point's layers (as flops "
                     "--n-layers places them, or on the same layers): where a point's layer "
                     "groups differ from the first point's, its columns hold its FLOPs of the "
                     "first point's operations (0 where it has none), and its total counts "
                     "every layer.")
    if result.skipped:
        notes.append(f"Skipped {result.skipped:,} invalid points (--skip-invalid), the first "
                     f"{result.first_skipped}.")
    if "d_ff" in result.columns and not any(a.name == "d_ff" for a in result.axes):
        notes.append("d_ff = 4·d_model at every point (GPT-2's FFN width).")
    names = op_columns(result.ops)
    extra = ["≈"] if approximate else []
    table = Table(title=f"FLOP sweep ({result.points:,} points)", notes=notes,
                  columns=[*result.columns, f"total {unit}s", *extra, f"{unit}s per token",
                           *(f"{n} %" for n in names)],
                  align="r" * (len(result.columns) + 2 + len(extra) + len(names)))
    values, per_op, totals = map(list, zip(*result.rows)) if result.rows else ([], [], [])
    if approximate:
        columns = share_columns(zip(*per_op), totals)
        # made a column at a time and zipped into rows (100,000 of them, in C)
        table.rows = list(map(list, zip(
            *zip(*values), totals, map(readable, totals, repeat(unit)),
            per_token_column(values, totals, result, "table"), *columns)))
        # a narrow terminal leaves out the smallest shares first (render.fit); a sweep of
        # 100,000 rows has few distinct shares
        first = len(table.columns) - len(names)
        peak = {first + c: max(map(_RANK.get, set(column), repeat(0)), default=0)
                for c, column in enumerate(columns)}
        table.drop_order = tuple(table.columns[c] for c in sorted(peak, key=lambda c: (peak[c], -c)))
    else:
        table.rows = [[*point, total, each, *row_shares]
                      for point, total, each, row_shares
                      in zip(values, totals, per_token_column(values, totals, result),
                             zip(*share_columns(zip(*per_op), totals, plain=True)))]
    return table


def sweep_json(result: SweepResult) -> str:
    """The sweep as JSON text: the header indented like every flopcalc document, then one
    compact line per row (a sweep has up to millions): ``point`` (the ``columns``' values),
    ``total``, and per operation (in ``operations`` order) ``flops`` and ``share``."""
    return "".join(json_chunks(result))


def json_chunks(result: SweepResult):
    """``sweep_json``'s text in pieces of up to ``CHUNK`` rows, each made when it is asked for
    (``result`` may come from ``stream``)."""
    import json

    from .tables import JSON_SCHEMA_VERSION, mode_json

    mode = result.first_mode
    head = {
        "schema": "flopcalc.sweep", "schema_version": JSON_SCHEMA_VERSION,
        "first_config": first_fields(result),
        "swept": {a.name: list(a.values) for a in result.axes},
        "conventions": {**result.conventions.as_dict(),
                        "description": result.conventions.describe(
                            result.first_report.architecture)},
        "mode": mode_json(mode),  # its swept fields: at the first point
        "columns": list(result.columns),
        "operations": [{"section": r.op.section, "group": r.group, "name": r.op.name}
                       for r in result.first_report.rows],
        "skipped": result.skipped,
    }
    text = json.dumps(head, indent=2, ensure_ascii=False)
    yield text[:-2] + ',\n  "rows": [\n    '
    between, texts = "", _Texts()
    for chunk in chunks(_made(result)):
        text = between + _json_rows(chunk, result, texts)
        del chunk      # its rows go before the next chunk's are made
        yield text
        between = ",\n    "
    yield "\n  ]\n}\n"


def _json_rows(chunk, result: SweepResult, texts) -> str:
    """A chunk's rows as JSON lines, each as json.dumps(..., separators=(", ", ": "),
    ensure_ascii=False) writes it, put together directly: its point, total, per token, flops
    and shares are ints and strings that need no escaping."""
    values, per_op, totals = _columns(chunk)
    return _text_rows(len(totals), [
        '{"point": [', *_between(map(texts, values), ", "), '], "total": ', texts(totals, False),
        ', "per_token": "', per_token_cells(values.__getitem__, totals, result, "json"),
        '", "flops": [', *_between(texts.each_once(per_op), ", "), '], "share": ["',
        *share_columns(per_op, totals, separator='", "'), '"]}'], between=",\n    ")


def csv_chunks(result: SweepResult):
    """The sweep as ``render.to_csv`` writes ``sweep_table(result, approximate=False)``, in
    pieces of up to ``CHUNK`` rows, each made when it is asked for (``result`` may come from
    ``stream``)."""
    from .render import to_csv

    # the header alone (title, notes, column names): the table of no rows
    yield to_csv(sweep_table(replace(result, rows=[]), approximate=False))
    # the rows' cells (ints, shares like 12.34) need no CSV quoting: joined directly, which
    # is quicker than csv.writer and writes the same text
    texts = _Texts()
    for chunk in chunks(_made(result)):
        text = _csv_rows(chunk, result, texts)
        del chunk      # its rows go before the next chunk's are made
        yield text


def _csv_rows(chunk, result: SweepResult, texts) -> str:
    """A chunk's rows as CSV lines."""
    values, per_op, totals = _columns(chunk)
    cells = [*map(texts, values), texts(totals, False),
             per_token_cells(values.__getitem__, totals, result)]
    return _text_rows(len(totals), [*_between(cells, ","), ",",
                                    *share_columns(per_op, totals, True, ","), "\n"])


def _made(result: SweepResult):
    """The rows of ``result`` as they are made: ``stream``'s rows and Blocks, or ``rows``."""
    return result.rows if result.blocks is None else result.blocks


def _columns(chunk) -> tuple:
    """(value columns, op columns, totals) of a Block or of a list of rows."""
    if type(chunk) is Block:
        return chunk
    values, per_op, totals = zip(*chunk)
    return list(zip(*values)), list(zip(*per_op)), totals


class _Texts:
    """The text of each int of a column, as a list; a column of one value (a run's head) is
    converted once, and a column seen lately (a run's last-axis values, the same list for
    every head) is not converted again."""

    def __init__(self):
        self.seen: dict = {}

    def __call__(self, column, keep: bool = True) -> list:
        """The texts of ``column``, kept for the next time when ``keep``."""
        seen = self.seen.get(id(column))
        if seen is not None and seen[0] is column:
            return seen[1]
        first = column[0]
        if column[-1] == first and column.count(first) == len(column):
            return [str(first)] * len(column)
        # (repr is str for an int, and quicker to call than str or int.__repr__)
        out = list(map(repr, column))
        if keep and len(column) <= RUN:  # (a run's: a chunk of rows is seen once)
            if len(self.seen) > 16:
                self.seen.clear()
            self.seen[id(column)] = column, out
        return out

    def each_once(self, columns) -> list:
        """The texts of each of ``columns`` (not kept), a column that is also an earlier one
        (the same list: GPT-2's scores and attention values in a run) converted once."""
        done: dict = {}
        return [done[id(c)] if id(c) in done else done.setdefault(id(c), self(c, False))
                for c in columns]


def _between(columns, separator: str) -> list:
    """``columns`` with ``separator`` between each two."""
    out = []
    for column in columns:
        if out:
            out.append(separator)
        out.append(column)
    return out


def _text_rows(n: int, items, between: str = "") -> str:
    """``n`` rows of text, each ``items`` in order: a str as it is, a column (a list of n
    texts) its row's text, and ``between`` after every row but the last. Made as one list
    (a slice assignment per column) joined once: quicker than a join per row, and than one
    ``%`` of the rows' template. A column of one text throughout (a value that does not
    vary in a run, a share of no FLOPs) is written as a str: fewer pieces to join."""
    pattern: list = []
    columns = []
    for item in [*items, between]:
        if type(item) is not str and n and item[0] is item[-1] \
                and item.count(item[0]) == n:  # (the same text object throughout)
            item = item[0]
        if type(item) is not str:
            columns.append((len(pattern), item))
            pattern.append(None)
        elif pattern and type(pattern[-1]) is str:
            pattern[-1] += item
        elif item:
            pattern.append(item)
    width = len(pattern)
    flat = pattern * n
    for at, column in columns:
        flat[at::width] = column
    if between and n:  # (the last piece: a text that ends with ``between``)
        flat[-1] = flat[-1][:-len(between)]
    return "".join(flat)


CHUNK_BITS = 1 << 23      # a chunk's totals hold at most about this many bits (1 MiB)


def chunks(rows, size: int | None = None):
    """``run``'s rows in lists of ``size`` (default ``CHUNK``), or fewer when their totals
    (each row's largest number) hold more than ``CHUNK_BITS`` bits together: 10,000 rows of
    20,000-digit counts would be gigabytes. A Block among them is passed on as it is."""
    size = size or CHUNK
    chunk, bits = [], 0
    with cycles_collected_after():
        for row in rows:
            if type(row) is Block:  # already one (``stream``'s, of up to CHUNK rows)
                if chunk:
                    yield chunk
                    chunk, bits = [], 0
                yield row
                continue
            chunk.append(row)
            bits += row[2].bit_length()
            if len(chunk) == size or bits > CHUNK_BITS:
                yield chunk
                chunk, bits = [], 0
        if chunk:
            yield chunk


@contextmanager
def cycles_collected_after():
    """Python's cycle collector paused while rows are made and written: they hold no
    reference cycles, and it would walk them again and again as they pile up (a tenth to a
    quarter of a sweep's time)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _axis_text(a: Axis) -> str:
    v = a.values
    if a.geometric and len(v) > 2:
        return f"{v[0]}…{v[-1]} (×{v[1] // v[0]}, {len(v)} values)"
    if len(v) > 4 and (isinstance(v, range)
                       or all(v[i + 1] - v[i] == v[1] - v[0] for i in range(len(v) - 1))):
        return f"{v[0]}…{v[-1]} (+{v[1] - v[0]}, {len(v)} values)"
    return ", ".join(map(str, v))
