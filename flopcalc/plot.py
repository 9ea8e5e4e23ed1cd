"""Plots of a one-dimensional sweep (matplotlib, an optional extra: ``flopcalc[plot]``).

- ``shares``: each operation's share of the FLOPs as the swept dimension grows, stacked, with
  the point where attention (the roles ``attention.scores`` + ``attention.values``) overtakes
  the MLP's matmuls (``mlp.gate``, ``mlp.up``, ``mlp.gate_up``, ``mlp.down``: GPT-2's ``ffn_up``
  + ``ffn_down``; with experts also the router's, the routed and the shared experts') solved
  exactly from the model's formulas, in every architecture. A mixture of experts also gets
  the routed experts' share (every ``mlp.expert.*`` operation) as a line over the stack.
- ``estimates``: the relative error of each published estimate (``estimates.compare``)
  against the exact count, over the sweep.

matplotlib is imported only here, with the Agg backend; the counts stay exact ints (only the
drawing uses floats).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from .config import Conventions, FlopcalcError, Mode
from .sweep import (AXES, MODE_AXES, Axis, SweepResult, check_point, first_fields, op_columns,
                    run)

INSTALL = "pip install 'flopcalc[plot]' (from a clone: pip install '.[plot]')"
FORMATS = (".png", ".svg")
# the two sides of the crossover, by role (docs/architectures.md)
ATTENTION = ("attention.scores", "attention.values")
FFN = ("mlp.gate", "mlp.up", "mlp.gate_up", "mlp.down", "mlp.router",
       "mlp.expert.gate", "mlp.expert.up", "mlp.expert.gate_up", "mlp.expert.down",
       "mlp.shared.gate", "mlp.shared.up", "mlp.shared.gate_up", "mlp.shared.down",
       "mlp.shared.router")
EXPERTS = "mlp.expert."  # the roles of the routed experts' operations
# matplotlib draws doubles: a swept value must stay well inside their range (about 1.8e308:
# its log axes overflow from about 1e295). Beyond it, flopcalc sweep counts exactly.
DRAWABLE = 10 ** 250


def pyplot():
    """matplotlib.pyplot on the Agg backend, or a one-line error saying how to install it."""
    try:
        import matplotlib
    except ImportError:
        raise FlopcalcError(f"flopcalc plot needs matplotlib: {INSTALL}") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def check_output(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise FlopcalcError(f"--output {path}: the file name must end in .png or .svg")
    return suffix[1:]


@dataclass(frozen=True)
class Crossover:
    """Where attention = FFN along the swept dimension, solved exactly."""

    name: str            # the swept dimension
    root: object         # a sympy number: attention - FFN = 0 there
    attention_above: bool  # attention exceeds the FFN above the root (else below it)
    first_above: int     # the smallest whole value > root (where the larger side has taken over)
    attention_ops: str = "scores + attn_values"   # the model's operations on each side
    ffn_ops: str = "ffn_up + ffn_down"

    def describe(self) -> str:
        r = self.root
        where = str(r) if r.is_Integer else f"{_root_text(r)} (exactly {r})"
        larger = "above" if self.attention_above else "below"
        return (f"attention ({self.attention_ops}) = FFN ({self.ffn_ops}) at {self.name} = "
                f"{where}; attention is larger {larger} it")


def crossover(base: dict, name: str, conv: Conventions, mode: Mode, first,
              workload=None) -> Crossover | None:
    """Solve attention (scores + P·V) = FFN (the MLP's matmuls), by role, for the swept
    dimension ``name`` exactly, the other dimensions at ``first`` (a Config, or an
    Architecture on ``workload``); None if they never cross at a positive value. Each layer
    group counts its repeat times (Gemma 2's sliding and full blocks).

    The FLOPs are the model's own formulas (``formulas.formulas``), so dense, causal and
    elementwise counting all give their own exact crossover; a window's cap ``Min`` is solved
    piece by piece.
    """
    import sympy as sp

    from . import formulas as fm
    from .analysis import flop_report, split_model

    arch, load, _ = split_model(first, workload)
    report = flop_report(arch, conv, mode, load)
    resolved = report.mode
    f = fm.formulas(conv, mode=fm.symbolic_mode(mode.kind, mode.recompute), architecture=arch)
    roles = {(r.group, r.op.name): r.op.role for r in report.rows}
    repeat = {g: times for g, times, _ in f.groups}

    def side(wanted):
        rows = [(g, n, e) for g, n, e in f.rows if roles[g, n] in wanted]
        return (sum(repeat[g] * e for g, n, e in rows),
                " + ".join(dict.fromkeys(n for _, n, _ in rows)))

    (attention, attention_ops), (ffn, ffn_ops) = side(ATTENTION), side(FFN)
    if not attention_ops or not ffn_ops:
        return None
    symbol = {**fm.SYMBOLS, **fm.EXTRA_SYMBOLS, **fm.MOE_SYMBOLS, **fm.MLA_SYMBOLS,
              "position": fm.t, "prompt": fm.p, "new_tokens": fm.n}
    x = symbol[name]
    values = fm.symbol_values(arch, load)
    values.update({s: v for s, v in ((fm.t, resolved.position), (fm.p, resolved.prompt),
                                     (fm.n, resolved.new_tokens)) if v is not None})
    # the sizes that follow the swept one when not given (Architecture's rules)
    if name == "d_model" and base.get("d_ff") is None:
        values[fm.d_ff] = 4 * x
    split = arch.heads_split_d_model
    if not split and base.get("d_head") is None and name in ("d_model", "n_heads"):
        values[fm.d_head] = values.get(fm.d_model, x) / values.get(fm.h, x)
        values[fm.d_model if name == "d_model" else fm.h] = x
    if name == "n_heads" and base.get("n_kv_heads") is None:
        values[fm.h_kv] = x
    if name == "seq_len":
        if mode.kind == "decode" and mode.position is None:
            values[fm.t] = x                         # the decoded position follows seq_len
        if mode.kind == "generate" and mode.prompt is None:
            values[fm.p] = x
    values.pop(x, None)
    diff = (attention - ffn).subs(values)
    num, _ = sp.fraction(sp.together(diff))  # den > 0 for positive dimensions
    if not num.has(x):
        return None
    roots = sorted(r for r in _positive_roots(num, x))
    for i, root in enumerate(roots):  # the first root where the sign changes
        left = (roots[i - 1] + root) / 2 if i else root / 2
        right = (root + roots[i + 1]) / 2 if i + 1 < len(roots) else root + 1
        after, before = num.subs(x, right), num.subs(x, left)
        if (after > 0) != (before > 0):
            return Crossover(name, root, bool(after > 0), int(sp.floor(root)) + 1,
                             attention_ops, ffn_ops)
    return None


def _positive_roots(num, x) -> set:
    """The positive real roots of ``num`` in ``x``: a polynomial, or one whose ``Min``/``Max``
    terms (a window's cap) make it a polynomial between breakpoints, each piece solved on
    its own interval."""
    import sympy as sp

    caps = [c for c in num.atoms(sp.Min, sp.Max) if c.has(x)]
    if not caps:
        return {r for r in sp.Poly(num, x).real_roots() if r > 0}
    breaks = set()
    for cap in caps:
        for a in cap.args:
            for b in cap.args:
                if a != b:
                    breaks |= _positive_roots(sp.expand(a - b), x) if (a - b).has(x) else set()
    edges = [sp.Integer(0), *sorted(breaks)]
    roots = set()
    for i, lo in enumerate(edges):
        hi = edges[i + 1] if i + 1 < len(edges) else None
        inside = (lo + hi) / 2 if hi is not None else lo + 1
        piece = num.subs({cap: min(cap.args, key=lambda a: a.subs(x, inside)) if
                          isinstance(cap, sp.Min) else max(cap.args, key=lambda a: a.subs(x, inside))
                          for cap in caps})
        if not piece.has(x):
            continue
        roots |= {r for r in _positive_roots(sp.expand(piece), x)
                  if lo <= r and (hi is None or r <= hi)}
    return roots


def write_figure(fig, path: Path) -> None:
    """Render ``fig`` in memory, then write it whole (``files.write_bytes``: atomic, through
    symlinks, permissions kept; a device or FIFO is written in place)."""
    from io import BytesIO

    from .files import write_bytes

    fmt = check_output(path)
    image = BytesIO()
    fig.savefig(image, format=fmt, dpi=150, bbox_inches="tight",
                metadata={"Software": "flopcalc"} if fmt == "png" else {"Date": None})
    write_bytes(path, image.getvalue())


def _root_text(root) -> str:
    """A root to 6 significant digits (exactly when whole), at any size."""
    if root.is_Integer:
        return str(root)
    value = _float(root)
    return f"{value:.6g}" if value != float("inf") else str(root.evalf(6))


def _float(x) -> float:
    """``x`` as a double; inf beyond their range (never an OverflowError)."""
    try:
        return float(x)
    except OverflowError:
        return float("inf") if x > 0 else float("-inf")


def _check_drawable(axis: Axis) -> None:
    """Refuse, in one line, a sweep with values matplotlib cannot draw."""
    if max(axis.values) >= DRAWABLE:
        raise FlopcalcError(f"plot draws values below 10**250; the {axis.name} sweep goes "
                            "beyond (flopcalc sweep counts it exactly)")


def _x_axis(ax, axis: Axis) -> None:
    ax.set_xlabel(axis.name)
    xs = [float(v) for v in axis.values]  # matplotlib takes doubles, not ints beyond 2**63
    if axis.geometric:
        ax.set_xscale("log", base=2)
        ax.set_xticks(xs)
        ax.set_xticklabels([str(v) for v in axis.values], rotation=45 if len(axis.values) > 8 else 0)
    ax.set_xlim(xs[0], xs[-1])


def _footer(fig, base: dict, axis: Axis, first: dict, conventions: str) -> None:
    """The fixed dimensions and the conventions, small, under the plot."""
    import textwrap

    fixed = []
    for k, v in first.items():
        if k == axis.name or v is None or v == 0 or isinstance(
                v, (bool, str, float, tuple, list)) and k != "family":
            continue  # (0: no multi-token-prediction layers, nothing to say)
        if k == "d_head" and axis.name in ("d_model", "n_heads"):
            v = "d_model/n_heads"
        elif k == "rotary_dims" and axis.name in ("d_model", "n_heads", "d_head") and \
                base.get("rotary_dims") is None:  # it follows the head (its share of it)
            share = first.get("rotary_share")
            v = "d_head" if share is None else f"⌊d_head·{share}⌋"
        elif k == "d_ff" and axis.name == "d_model" and base.get("d_ff") is None:
            v = "4·d_model"
        fixed.append(f"{k}={v}")
    fig.text(0.01, 0.005, textwrap.fill(", ".join(fixed) + ". " + conventions, 190),
             fontsize=7, color="#444444", va="bottom")


def _one_axis(axes: list[Axis]) -> Axis:
    if len(axes) != 1 or len(axes[0].values) < 2:
        raise FlopcalcError("plot sweeps exactly one dimension over two or more values, e.g. "
                            "--seq-len 128:8192:x2")
    return axes[0]


def plot_shares(base: dict, axes: list[Axis], conv: Conventions, mode: Mode, path: Path,
                skip_invalid: bool = False) -> tuple[SweepResult, Crossover | None]:
    """Stacked shares of each operation over the sweep, with the exact attention/FFN crossover."""
    axis = _one_axis(axes)
    _check_drawable(axis)
    check_output(path)
    plt = pyplot()
    result = run(base, [axis], conv, mode, skip_invalid)
    first = result.first_report
    try:
        cross = crossover(base, axis.name, conv, mode, first.architecture, first.workload)
    except FlopcalcError:  # a model formulas.py gives no formulas for: no crossover drawn
        cross = None
    xs = [float(values[0]) for values, _, _ in result.rows]
    names = op_columns(result.ops)
    keep = [i for i in range(len(names)) if any(row[1][i] for row in result.rows)]
    ys = [[float(Fraction(row[1][i], row[2]) * 100) for row in result.rows] for i in keep]
    fig, ax = plt.subplots(figsize=(10, 5.6))
    colors = plt.get_cmap("tab20").colors
    ax.stackplot(xs, ys, labels=[names[i] for i in keep],
                 colors=[colors[(2 * j) % 20 + (2 * j) // 20 % 2] for j in range(len(keep))])
    experts = experts_shares(result)
    if experts is not None:
        ax.plot(xs, [float(e * 100) for e in experts], color="black", linewidth=2,
                label="routed experts (all expert_* ops)")
        ax.annotate(f"routed experts: {float(experts[0] * 100):.1f}% … "
                    f"{float(experts[-1] * 100):.1f}%", xy=(xs[-1], float(experts[-1] * 100)),
                    xytext=(-6, 6), textcoords="offset points", ha="right", fontsize=8,
                    bbox=dict(boxstyle="round", fc="white", alpha=0.9))
    _x_axis(ax, axis)
    ax.set_ylim(0, 100)
    ax.set_ylabel("share of total FLOPs (%)")
    ax.set_title(f"Where the FLOPs go: {result.first_mode.describe()}", loc="left")
    if cross is not None:
        r = _float(cross.root)
        side = "larger above" if cross.attention_above else "larger below"
        if axis.values[0] <= r <= axis.values[-1]:
            ax.axvline(r, color="black", linestyle="--", linewidth=1.2)
            ax.annotate(f"attention = FFN at {axis.name} = {_root_text(cross.root)}\n"
                        f"({cross.attention_ops} vs\n{cross.ffn_ops};\nattention {side})",
                        xy=(r, 97), xytext=(6, 0), textcoords="offset points", ha="left",
                        va="top", fontsize=8, bbox=dict(boxstyle="round", fc="white", alpha=0.9))
        else:
            ax.text(0.01, 0.97, f"attention = FFN at {axis.name} = {_root_text(cross.root)}, "
                    f"outside the sweep (attention {side})", transform=ax.transAxes, ha="left",
                    va="top", fontsize=8, bbox=dict(boxstyle="round", fc="white", alpha=0.9))
    _footer(fig, base, axis, first_fields(result), conv.describe(first.architecture))
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, reverse=True)
    fig.subplots_adjust(bottom=0.24 if axis.geometric and len(axis.values) > 8 else 0.2)
    write_figure(fig, path)
    plt.close(fig)
    return result, cross


def experts_shares(result: SweepResult) -> list[Fraction] | None:
    """The routed experts' share of each point's total (every ``mlp.expert.*`` operation, each
    times its group's repeat), exactly; None for a model without experts."""
    roles = [r.op.role for r in result.first_report.rows]
    picked = [i for i, role in enumerate(roles) if role.startswith(EXPERTS)]
    if not picked:
        return None
    return [Fraction(sum(per_op[i] for i in picked), total) if total else Fraction(0)
            for _, per_op, total in result.rows]


def plot_estimates(base: dict, axes: list[Axis], conv: Conventions, path: Path,
                   skip_invalid: bool = False) -> list[tuple[int, list]]:
    """Relative error of each published estimate against the exact count, over the sweep."""
    from .estimates import compare

    axis = _one_axis(axes)
    if axis.name in MODE_AXES:
        raise FlopcalcError(f"--kind estimates sweeps a model dimension, not {AXES[axis.name]}")
    _check_drawable(axis)
    check_output(path)
    plt = pyplot()
    points = []
    for v in axis.values:
        try:
            cfg = check_point(base, (axis.name,), (v,), Mode())[3]
        except FlopcalcError:
            if not skip_invalid:
                raise
            continue
        if cfg is None:
            raise FlopcalcError("plot --kind estimates compares GPT-2 models only so far (the "
                                "published estimates are GPT-2's); --kind shares plots every "
                                "architecture")
        points.append((v, compare(cfg, conv)))
    if not points:
        raise FlopcalcError("no valid point in the sweep")
    fig, ax = plt.subplots(figsize=(10, 6.4))
    xs = [float(v) for v, _ in points]
    series: dict[tuple, list] = {}  # estimates with the same errors share one line
    for j, c in enumerate(points[0][1]):
        series.setdefault(tuple(rows[j].error for _, rows in points), []).append(c)
    markers = "osD^vP*X"
    for k, (errors, same) in enumerate(series.items()):
        authors = dict.fromkeys(c.source.split(",")[0] for c in same)
        ax.plot(xs, [_float(e * 100) for e in errors], marker=markers[k % len(markers)],
                markersize=4, label=f"{', '.join(c.name for c in same)} ("
                + ("same error; " if len(same) > 1 else "") + f"{'; '.join(authors)})")
    ax.axhline(0, color="black", linewidth=0.8)
    _x_axis(ax, axis)
    ax.set_ylabel("(estimate − exact) / exact  (%)")
    ax.set_title("Published FLOP estimates against flopcalc's exact count", loc="left")
    ax.grid(True, alpha=0.3)
    first = check_point(base, (axis.name,), (points[0][0],), Mode())[3]
    _footer(fig, base, axis, first.as_dict(), f"exact: 2 FLOPs per multiply-add, {conv.attention} "
            f"attention, {'with' if conv.elementwise else 'no'} elementwise work; each estimate "
            "against the exact count of what it estimates (flopcalc compare)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25 if axis.geometric else -0.14),
              fontsize=8, ncol=2, frameon=False)
    fig.subplots_adjust(bottom=0.33)
    write_figure(fig, path)
    plt.close(fig)
    return points
