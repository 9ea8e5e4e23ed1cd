"""Sweeps: FLOPs of many configs at once, over lists, ranges and grids of dimensions.

Two exact paths give the same ints (tests/test_sweep.py checks this):

- ``flop_report`` per point: the reference, used for small sweeps (no sympy import).
- compiled: the model's per-operation FLOPs as polynomials, built once over sympy symbols
  by ``formulas.formulas`` (the same ``build_ops``, never typed-in formulas), turned into one
  plain Python function of integers: each polynomial is written over a common integer
  denominator and divided exactly (``//``) at the end. Used from ``FAST_FROM`` points up.

An invalid point (n_heads not dividing d_model, seq_len > n_positions, ...) stops the sweep
with an error naming it, or is left out with ``skip_invalid`` (counted in the notes).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from dataclasses import fields as dataclass_fields
from fractions import Fraction
from functools import lru_cache
from itertools import chain

from .analysis import flop_report, resolve
from .architecture import Architecture, Workload, rotary_width
from .config import WHOLE_NUMBER, Config, Conventions, FlopcalcError, Mode, fits
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

FAST_FROM = 4000          # below this many points, flop_report per point is quicker than
#                           importing sympy and compiling (~0.35 s)
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
        raise FlopcalcError(f"{option} {text!r}: not a list or range; {_SYNTAX}")
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
    skipped: int = 0
    first_skipped: str = ""
    points: int = 0                      # the number of rows (known before ``stream``'s rows)


def describe_point(names, values) -> str:
    return ", ".join(f"{n}={v}" for n, v in zip(names, values))


@lru_cache(maxsize=64)
def compile_model(conv: Conventions, kind: str, recompute: bool, architecture: Architecture):
    """(ops, function, arguments): the per-operation FLOPs of mode ``kind`` as one Python
    function of ints ``f(B, L, d_model, h, d_ff, n_layers, V, n_ctx, t, p, n, h_kv, d_head,
    d_rot, W, n_w[, E, k, d_e, d_s, n_moe, G][, r_q, r_kv, d_nope, d_rope, d_v]) -> (flops per
    op..., total)`` (the experts' sizes for a model with experts, the latent ranks and widths
    for latent attention), each operation already times its group's repeat count; the
    arguments named as ``MODEL_ARGS`` names them. Built
    from ``formulas.formulas`` (sympy) for ``architecture``'s family and switches; it holds
    for every point of the same structure (``_structure``). A window's cap ``Min`` is Python's
    ``min`` on ints."""
    import sympy as sp

    from . import formulas as fm

    f = fm.formulas(conv, mode=fm.symbolic_mode(kind, recompute), architecture=architecture)
    symbols = (fm.B, fm.L, fm.d_model, fm.h, fm.d_ff, fm.n_layers, fm.V, fm.n_ctx, fm.t, fm.p,
               fm.n, fm.h_kv, fm.d_head, fm.d_rot, fm.W, fm.n_w, fm.E, fm.k, fm.d_e, fm.d_s,
               fm.n_moe, fm.G, fm.r_q, fm.r_kv, fm.d_nope, fm.d_rope, fm.d_v)
    assert len(symbols) == len(MODEL_ARGS)
    # a dense model's function takes GPT-2's sixteen arguments only (the sweep's inner loop
    # copies and unpacks them at every point)
    used = model_args(architecture)
    symbols = tuple(s for s, name in zip(symbols, MODEL_ARGS) if name in used)
    if set().union(*(sp.sympify(e).free_symbols for _, repeat, one in f.groups
                     for e in (repeat, one))) - set(symbols):
        # (the windowed MoE layers' count n_wm): no argument carries it, so counted per point
        raise FlopcalcError("the compiled sweep has no argument for a size of these formulas")
    names = [str(s) for s in symbols]
    repeat = {g: r for g, r, _ in f.groups}
    fractions = [sp.fraction(sp.together(expr)) for _, _, expr in f.rows]
    for (num, den), (_, _, expr) in zip(fractions, f.rows):
        caps = sorted(num.atoms(sp.Min, sp.Max), key=str)
        if not (den.is_Integer and den > 0) or any(
                not c.is_Integer for c in sp.Poly(num, *symbols, *caps).coeffs()):
            raise AssertionError(f"not an integer polynomial over an integer: {expr}")
    # common subexpressions (B*L*d_model, ...) computed once per point
    shared, numerators = sp.cse([num for num, _ in fractions],
                                symbols=sp.numbered_symbols("_x"))
    lines = [f"    {name} = {sp.sstr(value)}" for name, value in shared]
    terms = []
    for i, ((group, _, _), num, (_, den)) in enumerate(zip(f.rows, numerators, fractions)):
        body = f"({sp.sstr(num)})" + (f" // {den}" if den != 1 else "")
        times = repeat[group]
        lines.append(f"    c{i} = {body}" + (f" * ({sp.sstr(times)})" if times != 1 else ""))
        terms.append(f"c{i}")
    source = (f"def model_flops({', '.join(names)}):\n" + "\n".join(lines)
              + f"\n    return ({', '.join(terms)}, {' + '.join(terms) or '0'})\n")
    if "/" in source.replace("//", ""):  # true division would give floats
        raise AssertionError(f"inexact division in the compiled model:\n{source}")
    namespace: dict = {"Min": min, "Max": max}
    exec(compile(source, "<flopcalc.sweep compiled model>", "exec"), namespace)
    return tuple((g, n) for g, n, _ in f.rows), namespace["model_flops"], used


def _structure(arch: Architecture) -> tuple:
    """What the compiled formulas assume beyond the family and switches
    (``formulas.symbolic_dims``): whether heads split d_model (GPT-2, GPT-NeoX: d_head =
    d_model/n_heads, n_kv_heads = n_heads), whether every head dim
    rotates, whether none, some or all layers are windowed, and none, some or all are MoE."""
    split = arch.heads_split_d_model
    return (split and (arch.d_head * arch.n_heads != arch.d_model
                       or arch.n_kv_heads != arch.n_heads),
            arch.rotary_dims in (None, arch.d_head),
            arch.sliding_window is None,
            {0: 0, arch.n_layers: 2}.get(arch.n_windowed, 1),
            {0: 0, arch.n_layers: 2}.get(arch.n_moe, 1))


def _reference_ops(report) -> tuple:
    return tuple((r.group, r.op.name) for r in report.rows)


def _reference_row(report) -> tuple:
    return tuple(r.flops * r.times for r in report.rows), report.total


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


_CONFIG_FIELDS = {f.name for f in dataclass_fields(Config)}
_BIASES = ("qkv_bias", "o_bias", "mlp_bias", "norm_bias")


def _config_fields(fields: dict) -> dict | None:
    """``fields`` (Architecture fields, seq_len, batch) as a GPT-2 Config's, or None when
    they describe another model. A Config's own ``bias`` is taken as it is."""
    fields = dict(fields)
    if fields.pop("family", "gpt2") != "gpt2":
        return None
    biases = {fields.pop(k) for k in _BIASES if k in fields}
    if "bias" in fields:
        biases.add(fields["bias"])
    if len(biases) > 1:
        return None
    if biases:
        fields["bias"] = biases.pop()
    return fields if set(fields) <= _CONFIG_FIELDS else None


def check_point(base: dict, names, values, mode: Mode) -> tuple[Architecture, Workload, Mode,
                                                                  Config | None]:
    """The point's Architecture, Workload, resolved Mode and (for GPT-2) Config, checked by
    them. ``base`` holds the fields that are not swept: Architecture fields, seq_len and
    batch (or a GPT-2 Config's fields); derived sizes (d_head, d_ff, …) not in it follow
    the point's."""
    point = {**base, **{n: v for n, v in zip(names, values) if n in CONFIG_AXES}}
    fields = {k: getattr(mode, k) for k in ("kind", "recompute", *MODE_AXES)}
    fields.update({n: v for n, v in zip(names, values) if n in MODE_AXES})
    try:
        config = _config_fields(point)
        if config is not None:  # GPT-2: checked by Config and Mode, as before
            cfg = Config(**config)
            return cfg.architecture, cfg.workload, Mode(**fields).resolved(cfg), cfg
        arch_fields = {k: v for k, v in point.items() if k not in WORKLOAD_AXES}
        if "bias" in arch_fields:
            bias = arch_fields.pop("bias")
            arch_fields.update({k: bias for k in _BIASES})
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
        rows = _rows(base, axes, conv, mode, False, None, progress, result)
        first = next(rows)     # the header's first point (an invalid one raises here)
        result.rows, result.points = chain([first], rows), total
        return result
    halves = (lambda done, _: progress(done, 2 * total),
              lambda done, _: progress(total + done, 2 * total)) if progress else (None, None)
    result = _empty_result(axes, base, conv)
    for _ in _rows(base, axes, conv, mode, skip_invalid, None, halves[0], result, False):
        result.points += 1
    _check_some_valid(result)
    # the second pass repeats the first's bookkeeping (first point, skips) into a scratch copy
    scratch = _empty_result(axes, base, conv)
    result.rows = _rows(base, axes, conv, mode, skip_invalid, None, halves[1], scratch)
    return result


def _empty_result(axes, base, conv) -> SweepResult:
    names = tuple(a.name for a in axes)
    derived_ff = base.get("d_ff") is None and "d_model" in names and "d_ff" not in names
    return SweepResult(tuple(axes), names + (("d_ff",) if derived_ff else ()), (), conv)


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


def _rows(base: dict, axes: list[Axis], conv: Conventions, mode: Mode, skip_invalid: bool,
          fast: bool | None, progress, result: SweepResult, evaluate: bool = True):
    """``run``'s rows one at a time; the first valid point, the ops and the skipped points go
    into ``result``. Without ``evaluate``, only the points' validity is checked: one ``None``
    per valid point, no FLOPs computed."""
    total_points = check_axes(axes)
    if fast is None:
        fast = total_points >= FAST_FROM
    names = tuple(a.name for a in axes)
    derived_ff = len(result.columns) > len(names)
    model = slots = None
    kind = mode.kind
    # unset, unswept decode position / generation prompt: seq_len at each point (Mode.resolved)
    position_follows_l = kind == "decode" and mode.position is None and "position" not in names
    prompt_follows_l = kind == "generate" and mode.prompt is None and "prompt" not in names

    def skip(values, error: FlopcalcError):
        if not skip_invalid:
            raise error
        result.skipped += 1
        result.first_skipped = result.first_skipped or describe_point(names, values)

    given = {k for k, v in base.items() if v is not None} | set(names)
    for done, values in enumerate(grid(axes)):
        if progress and done % CHUNK == 0:
            progress(done, total_points)
        if slots is not None:  # the compiled path, after the first valid point
            args = template.copy()
            for slot, i in slots:
                args[slot] = values[i]
            B, L, D, H, F, NL, V, P, t, p, n, KV, DH, ROT, W, NW = \
                args if dense else args[:16]
            # the sizes that follow others when not given (Architecture's rules)
            if latent:  # latent attention fixes the head widths
                NOPE, ROPE = args[at_nope], args[at_nope + 1]
                args[12] = DH = NOPE + ROPE
                args[11] = KV = H
                args[13] = ROT = ROPE
            if derive_head:
                args[12] = DH = D // H
            if derive_kv:
                args[11] = KV = H
            if derived_ff or derive_ff:
                args[4] = F = 4 * D
            if derive_rot:  # the model's share of the head (Architecture's rule)
                args[13] = ROT = DH if share is None else rotary_width(DH, share)
            if window_layers is None and W:
                args[15] = NW = NL
            if experts:
                E, K, NM, G = args[16], args[17], args[20], args[21]
                TG = topk_groups if tg_at is None else values[tg_at]
                if moe_layers is None:
                    args[20] = NM = NL
            else:
                NM = 0
            if position_follows_l:
                args[8] = t = L
            if prompt_follows_l:
                args[9] = p = L
            last = t if kind == "decode" else p + n - 1 if kind == "generate" else 0
            valid = (fits(D, H, L, P, last) if learned else not derive_head or not D % H) \
                and not H % KV and (not rotary or ROT <= DH and not ROT % 2) \
                and (window_layers is None or window_layers[-1] < NL) \
                and (not experts or K <= E and (moe_layers is None or moe_layers[-1] < NL)
                     and (not G or not E % G and TG <= G and K <= TG * (E // G))) \
                and (not latent or not ROPE % 2)
            if not valid:
                try:  # let Architecture, Config and Mode say what is wrong
                    check_point(base, names, values, mode)
                except FlopcalcError as e:
                    skip(values, e)
                    continue
                raise AssertionError(f"sweep rules disagree with Config at {values}")
            if not evaluate:
                yield None
                continue
            if not varies or (split and (DH * H != D or KV != H), not rotary or ROT == DH,
                              not W, 0 if not W else {0: 0, NL: 2}.get(NW, 1),
                              {0: 0, NL: 2}.get(NM, 1)) == structure:
                flops = model(*args)
                per_op, total = flops[:-1], flops[-1]
            else:  # formulas of another structure: this point counted by flop_report
                arch, load, m, _ = check_point(base, names, values, mode)
                per_op, total = _reference_row(flop_report(arch, conv, m, load))
            yield (values + (F,) if derived_ff else values, per_op, total)
            continue
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
            structure = _structure(arch)
            # formulas split heads as d_model/n_heads for GPT-2 and GPT-NeoX: a model that
            # does not is counted per point
            # (a capacity factor rounds each expert's rows up: counted per point)
            if fast and not structure[0] and conv.capacity_factor is None:
                try:
                    ops, model, arg_names = compile_model(conv, mode.kind, mode.recompute,
                                                          arch)
                except FlopcalcError:  # no formulas for this model (formulas.py says why)
                    ops, model = result.ops, None
            if model is not None:
                assert ops == result.ops
                at = {**vars(load), **vars(m)}
                template = [getattr(arch, k) if hasattr(arch, k) else at[k] for k in arg_names]
                template = [0 if v is None else v for v in template]  # no window, no groups…
                # topk_groups is no argument of the formulas, only of the point's validity
                slots = [(arg_names.index(n), i) for i, n in enumerate(names)
                         if n != "topk_groups"]
                tg_at = names.index("topk_groups") if "topk_groups" in names else None
                topk_groups = arch.topk_groups or 0
                latent = arch.kv_lora_rank is not None
                experts = arch.n_experts is not None
                dense = len(arg_names) == 16
                at_nope = arg_names.index("qk_nope_head_dim") if latent else None
                moe_layers = arch.moe_layers
                derive_head = "d_head" not in given and not latent
                derive_kv = "n_kv_heads" not in given and not latent
                derive_ff = "d_ff" not in given
                rotary = arch.positions == "rotary"
                learned = not rotary
                derive_rot = rotary and "rotary_dims" not in given and not latent
                share = arch.rotary_share
                window_layers = arch.window_layers
                split = arch.heads_split_d_model
                # whether a point can have another structure than the first (else no check)
                varies = (split and not (derive_head and derive_kv)
                          or rotary and not derive_rot and not latent
                          or experts and moe_layers is not None and "n_layers" in names
                          or window_layers is not None and "n_layers" in names)
        if not evaluate:
            yield None
            continue
        per_op, total = _reference_row(report)
        yield (values + (arch.d_ff,) if derived_ff else values, per_op, total)
    if progress:
        progress(total_points, total_points)


_PERCENT = [f"{h // 100}.{h % 100:02d}%" for h in range(10001)]  # 0.00% … 100.00%
_PLAIN = [p[:-1] for p in _PERCENT]                                  # 0.00 … 100.00 (CSV)
_RANK = {p: h for h, p in enumerate(_PERCENT)}


def shares(per_op, total, plain: bool = False) -> list[str]:
    """Each part's share of ``total`` (parts are non-negative and sum to it) exactly as
    ``tables.percent`` writes it (``plain``: without the ``%``, empty for no total), by table
    look-up: sweeps write millions of them."""
    if not total:
        return ["" if plain else "–"] * len(per_op)
    twice = 2 * total
    look_up = _PLAIN if plain else _PERCENT
    return [look_up[(f * 20000 + total) // twice] for f in per_op]


_NUMPY_FROM = 1000                    # rows: fewer are quicker without numpy (and its import)
_INT64_TOTAL = (2**63 - 1) // 20001   # a total up to this keeps f * 20000 + total in int64


@lru_cache(maxsize=2)
def _percent_array(plain: bool = False):
    import numpy as np

    return np.array(_PLAIN if plain else _PERCENT, dtype=object)


def chunk_shares(rows, plain: bool = False) -> list[list[str]]:
    """``shares(per_op, total, plain)`` of each of ``rows`` (``run``'s rows). A chunk of
    ``_NUMPY_FROM`` rows or more whose totals fit int64 arithmetic exactly is done by numpy
    in one go (the same integer formula, so the same text, twice as quick); any other goes
    through ``shares`` row by row."""
    totals = [total for _, _, total in rows]
    if len(rows) < _NUMPY_FROM or min(totals) <= 0 or max(totals) > _INT64_TOTAL:
        return [shares(per_op, total, plain) for _, per_op, total in rows]
    import numpy as np

    flops = np.array([per_op for _, per_op, _ in rows], dtype=np.int64)
    total = np.array(totals, dtype=np.int64)[:, None]
    return _percent_array(plain)[(flops * 20000 + total) // (2 * total)].tolist()


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


def per_token_column(chunk, result: SweepResult, how: str = "csv") -> list:
    """The total per token of each of ``chunk``'s rows, as ``how`` wants it: "table" (an int,
    or ``tables.exact_cell``), "csv" (its plain number) or "json" (exact: ``"n"`` or ``"n/d"``).
    Written for millions of rows: a whole quotient, the usual case, costs one division."""
    from itertools import repeat

    (i, b), (j, o) = token_slots(result)
    if i is None and j is None:
        tokens = repeat(b * o)
    elif i is None:
        tokens = (b * values[j] for values, _, _ in chunk)
    elif j is None:
        tokens = (values[i] * o for values, _, _ in chunk)
    else:
        tokens = (values[i] * values[j] for values, _, _ in chunk)
    whole = (lambda q: q) if how == "table" else str
    return [whole(total // t) if not total % t else _per_token(total, t, how)
            for (_, _, total), t in zip(chunk, tokens)]


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
    if approximate:
        table.rows = [[*values, total, readable(total, unit), each, *shares(per_op, total)]
                      for (values, per_op, total), each
                      in zip(result.rows, per_token_column(result.rows, result, "table"))]
        # a narrow terminal leaves out the smallest shares first (render.fit); a sweep of
        # 100,000 rows has few distinct shares
        first = len(table.columns) - len(names)
        peak = {c: max(_RANK.get(v, 0) for v in {row[c] for row in table.rows})
                for c in range(first, len(table.columns))}
        table.drop_order = tuple(table.columns[c] for c in sorted(peak, key=lambda c: (peak[c], -c)))
    else:
        table.rows = [[*values, total, each, *shares(per_op, total, plain=True)]
                      for (values, per_op, total), each
                      in zip(result.rows, per_token_column(result.rows, result))]
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
    between = ""
    for chunk in chunks(result.rows):
        yield between + ",\n    ".join(map(_json_row, chunk, chunk_shares(chunk),
                                            per_token_column(chunk, result, "json")))
        between = ",\n    "
    yield "\n  ]\n}\n"


def _json_row(row, row_shares, each: str) -> str:
    """One row (its shares, and its total per token ``each``) as ``json.dumps(...,
    separators=(", ", ": "), ensure_ascii=False)`` writes it, put together directly (twice as
    quick): ints, and strings that need no escaping."""
    values, per_op, total = row
    return (f'{{"point": [{", ".join(map(str, values))}], "total": {total}, '
            f'"per_token": "{each}", '
            f'"flops": [{", ".join(map(str, per_op))}], '
            f'"share": ["{_QUOTED_COMMA.join(row_shares)}"]}}')


_QUOTED_COMMA = '", "'


def csv_chunks(result: SweepResult):
    """The sweep as ``render.to_csv`` writes ``sweep_table(result, approximate=False)``, in
    pieces of up to ``CHUNK`` rows, each made when it is asked for (``result`` may come from
    ``stream``)."""
    from .render import to_csv

    # the header alone (title, notes, column names): the table of no rows
    yield to_csv(sweep_table(replace(result, rows=[]), approximate=False))
    # the rows' cells (ints, shares like 12.34) need no CSV quoting: joined directly, which
    # is twice as quick as csv.writer and writes the same text
    for chunk in chunks(result.rows):
        yield "".join([f"{','.join(map(str, values))},{total},{each},{','.join(row_shares)}\n"
                       for (values, _, total), row_shares, each
                       in zip(chunk, chunk_shares(chunk, plain=True),
                              per_token_column(chunk, result))])


CHUNK_BITS = 1 << 23      # a chunk's totals hold at most about this many bits (1 MiB)


def chunks(rows, size: int = CHUNK):
    """``run``'s rows in lists of ``size``, or fewer when their totals (each row's largest
    number) hold more than ``CHUNK_BITS`` bits together: 10,000 rows of 20,000-digit counts
    would be gigabytes."""
    chunk, bits = [], 0
    for row in rows:
        chunk.append(row)
        bits += row[2].bit_length()
        if len(chunk) == size or bits > CHUNK_BITS:
            yield chunk
            chunk, bits = [], 0
    if chunk:
        yield chunk


def _axis_text(a: Axis) -> str:
    v = a.values
    if a.geometric and len(v) > 2:
        return f"{v[0]}…{v[-1]} (×{v[1] // v[0]}, {len(v)} values)"
    if len(v) > 4 and (isinstance(v, range)
                       or all(v[i + 1] - v[i] == v[1] - v[0] for i in range(len(v) - 1))):
        return f"{v[0]}…{v[-1]} (+{v[1] - v[0]}, {len(v)} values)"
    return ", ".join(map(str, v))
