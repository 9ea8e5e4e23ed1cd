"""FLOPs and parameters of any architecture, over its layer groups, in every mode.

Pure computation on the builders' operations (``flopcalc.architectures``) and the rules
of ``flopcalc.rules``: ints in, exact ints out; sympy symbols in, formulas out.
"""

from __future__ import annotations

from dataclasses import replace

from .architecture import Architecture, ArchitectureError, Workload
from .architectures import build
from .config import Conventions, Mode
from .rules import Dim, Dims, LayerGroup, Op, half, op_elementwise_flops, op_macs, visible_pairs


def op_flops(op: Op, conv: Conventions, backward: bool = False) -> Dim:
    """FLOPs of one operation (or of its gradient) under the given conventions.

    A matmul's backward is its two gradient matmuls (dA = dC·Bᵀ and dB = Aᵀ·dC), each as
    many multiply-adds as the forward.
    """
    flops = conv.flops_per_mac * op_macs(op, conv.causal) * (2 if backward else 1)
    if conv.elementwise:
        flops += op_elementwise_flops(op, conv.causal, backward)
    return flops


def counted(op: Op, conv: Conventions) -> bool:
    """Whether an operation gets a row in the FLOP table under these conventions."""
    if op.section not in conv.sections:
        return False
    return op.kind in ("matmul", "lookup") or (op.kind == "elementwise" and conv.elementwise)


def arithmetic_sum(first: Dim, second: Dim, count: Dim) -> Dim:
    """first + second + … over ``count`` terms of an arithmetic progression (exact)."""
    return count * first + (second - first) * half(count * (count - 1))


Costs = list[tuple[LayerGroup, list[tuple[Op, Dim, Dim]]]]


def mode_costs(arch: Architecture, dims: Dims, conv: Conventions, mode: Mode) -> Costs:
    """Per layer group, (op, multiply-adds, FLOPs) of every counted operation of ``mode``
    (already resolved). The ops returned carry the shapes shown in tables (for decode: the
    step's; for generate: the prefill's).

    Generation's decode steps t = p+1 … p+n-1 cost f(keys) each, affine in the keys: t, or
    min(t, W) in a windowed layer; their sum is taken in closed form.
    """
    def fwd(op):
        return op_macs(op, conv.causal), op_flops(op, conv)

    def each(groups, cost):
        return [(g, [(op, *cost(op, g)) for op in g.ops]) for g in groups]

    if mode.kind == "forward":
        out = each(build(arch, dims), lambda op, g: fwd(op))
    elif mode.kind in ("backward", "train"):
        def step(op, g):
            macs, flops = fwd(op)
            bwd = 2 * macs, op_flops(op, conv, backward=True)
            if mode.kind == "backward":
                return bwd
            # recomputation re-runs the blocks' forward (not the embedding or LM head)
            times = 2 if mode.recompute and op.section == "block" else 1
            return times * macs + bwd[0], times * flops + bwd[1]
        out = each(build(arch, dims), step)
    elif mode.kind == "decode":
        out = each(build(arch, replace(dims, seq_len=1, kv_len=mode.position)), lambda op, g: fwd(op))
    else:
        p, n = mode.prompt, mode.new_tokens
        prefill = build(arch, replace(dims, seq_len=p, kv_len=p))
        # two decode steps with uncapped keys give each op's cost as an affine function of them
        first = build(arch, replace(dims, seq_len=1, kv_len=p + 1, cap_keys=False))
        second = build(arch, replace(dims, seq_len=1, kv_len=p + 2, cap_keys=False))
        out = []
        for g0, ga, gb in zip(prefill, first, second):
            rows = []
            for op, a, b in zip(g0.ops, ga.ops, gb.ops):
                (m0, f0), (ma, fa), (mb, fb) = fwd(op), fwd(a), fwd(b)
                if op.window is None:
                    rows.append((op, m0 + arithmetic_sum(ma, mb, n - 1),
                                 f0 + arithmetic_sum(fa, fb, n - 1)))
                    continue
                keys = visible_pairs(n - 1, p + n - 1, op.window)  # Σ min(t, W)
                rows.append((op, m0 + (n - 1) * (ma - (mb - ma) * (p + 1)) + (mb - ma) * keys,
                             f0 + (n - 1) * (fa - (fb - fa) * (p + 1)) + (fb - fa) * keys))
            out.append((g0, rows))
    return [(g, [r for r in rows if counted(r[0], conv)]) for g, rows in out]


def total_flops(costs: Costs) -> Dim:
    """Sum of ``mode_costs``: each group's ops count ``repeat`` times."""
    return sum(g.repeat * sum(flops for _, _, flops in rows) for g, rows in costs)


def resolve(mode: Mode, arch: Architecture, workload: Workload) -> Mode:
    """``mode`` with its defaults filled in from ``workload`` and checked against ``arch``."""
    workload.check(arch)
    if mode.kind == "decode":
        filled = {"position": workload.seq_len if mode.position is None else mode.position}
    elif mode.kind == "generate":
        filled = {"prompt": workload.seq_len if mode.prompt is None else mode.prompt,
                  "new_tokens": 1 if mode.new_tokens is None else mode.new_tokens}
    else:
        return mode
    for name, value in filled.items():
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ArchitectureError(f"{name} must be a positive whole number, got {value!r}")
    last = filled.get("position") or filled["prompt"] + filled["new_tokens"] - 1
    workload.check(arch, last)
    return replace(mode, **filled)


def flop_costs(arch: Architecture, workload: Workload, conv: Conventions | None = None,
               mode: Mode | None = None) -> Costs:
    """``mode_costs`` of ``arch`` on ``workload`` in exact ints (default: one forward pass)."""
    conv = conv or Conventions()
    mode = resolve(mode or Mode(), arch, workload)
    return mode_costs(arch, arch.dims(workload.batch, workload.seq_len), conv, mode)


def param_groups(arch: Architecture) -> tuple[LayerGroup, ...]:
    """The layer groups whose ops own the parameter tensors (no workload needed)."""
    return build(arch, arch.dims())


def param_total(arch: Architecture) -> int:
    """Every parameter of ``arch``: each group's tensors ``repeat`` times."""
    return sum(g.repeat * sum(p.count for op in g.ops for p in op.params)
               for g in param_groups(arch))
