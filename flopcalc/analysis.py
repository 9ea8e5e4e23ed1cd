"""FLOP, parameter and shape reports of a Config, all derived from ``model.build_ops``.

Pure computation: exact Python ints, no sympy, no numpy, no rendering.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .config import Config, Conventions, FlopcalcError, Mode
from .model import Dim, Dims, Op, Param, half, build_ops, op_elementwise_flops, op_macs


def op_flops(op: Op, conv: Conventions, backward: bool = False) -> Dim:
    """FLOPs of one operation (or of its gradient) under the given conventions.

    Ints in, exact int out; sympy symbols in, formula out. A matmul's backward is its two
    gradient matmuls (dA = dC·Bᵀ and dB = Aᵀ·dC), each as many multiply-adds as the forward.
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


def model_ops(dims, config) -> list[Op]:
    """``build_ops`` with ``config``'s architecture switches (``config`` may be a Config or a
    namespace with fused_qkv, bias, tied_lm_head and optionally activation)."""
    return build_ops(dims, fused_qkv=config.fused_qkv, bias=config.bias,
                     tied_lm_head=config.tied_lm_head,
                     activation=getattr(config, "activation", "gelu_tanh"))


def arithmetic_sum(first: Dim, second: Dim, count: Dim) -> Dim:
    """first + second + … over ``count`` terms of an arithmetic progression (exact)."""
    return count * first + (second - first) * half(count * (count - 1))


def mode_costs(dims: Dims, config, conv: Conventions, mode: Mode) -> list[tuple[Op, Dim, Dim]]:
    """(op, multiply-adds, FLOPs) of every counted operation for ``mode`` (already resolved).

    Works over ints and over sympy symbols alike; the op returned carries the shapes shown
    in tables (for decode: the step's; for generate: the prefill's).
    """
    def fwd(op):
        return op_macs(op, conv.causal), op_flops(op, conv)

    if mode.kind == "forward":
        return [(op, *fwd(op)) for op in model_ops(dims, config) if counted(op, conv)]
    if mode.kind in ("backward", "train"):
        out = []
        for op in model_ops(dims, config):
            macs, flops = fwd(op)
            bwd_macs, bwd_flops = 2 * macs, op_flops(op, conv, backward=True)
            if mode.kind == "backward":
                macs, flops = bwd_macs, bwd_flops
            else:
                # recomputation re-runs the blocks' forward (not the embedding or LM head)
                times = 2 if mode.recompute and op.section == "block" else 1
                macs, flops = times * macs + bwd_macs, times * flops + bwd_flops
            out.append((op, macs, flops))
    elif mode.kind == "decode":
        ops = model_ops(replace(dims, seq_len=1, kv_len=mode.position), config)
        out = [(op, *fwd(op)) for op in ops]
    else:  # generate: the prefill, then n-1 decode steps whose cost grows linearly with t
        p, n = mode.prompt, mode.new_tokens
        prefill = model_ops(replace(dims, seq_len=p, kv_len=p), config)
        first = model_ops(replace(dims, seq_len=1, kv_len=p + 1), config)
        second = model_ops(replace(dims, seq_len=1, kv_len=p + 2), config)
        out = []
        for op, a, b in zip(prefill, first, second):
            (m0, f0), (ma, fa), (mb, fb) = fwd(op), fwd(a), fwd(b)
            out.append((op, m0 + arithmetic_sum(ma, mb, n - 1), f0 + arithmetic_sum(fa, fb, n - 1)))
    return [(op, macs, flops) for op, macs, flops in out if counted(op, conv)]


def total_flops(costs, n_layers: Dim) -> Dim:
    """Sum of ``mode_costs`` rows: block operations count n_layers times."""
    return sum(flops * (n_layers if op.section == "block" else 1) for op, _, flops in costs)


@dataclass(frozen=True)
class FlopRow:
    """One operation's count; ``op`` carries the shapes of the pass it names (for generate:
    the prefill's) and ``steps`` those of generate's first and last decode steps."""

    op: Op
    macs: int
    flops: int
    steps: tuple[Op, Op] | None = None


@dataclass(frozen=True)
class FlopReport:
    """FLOPs of one computation (``mode``), one row per operation, with its totals."""

    config: Config
    conventions: Conventions
    rows: tuple[FlopRow, ...]
    mode: Mode = Mode()

    def section_total(self, section: str) -> int:
        """FLOPs of one section's rows (for ``block``: one block)."""
        return sum(r.flops for r in self.rows if r.op.section == section)

    @property
    def block_total(self) -> int:
        return self.section_total("block")

    @property
    def blocks_total(self) -> int:
        return self.block_total * self.config.n_layers

    @property
    def total(self) -> int:
        return (self.section_total("embedding") + self.blocks_total
                + self.section_total("head"))


def flop_report(config: Config, conventions: Conventions | None = None,
                mode: Mode | None = None) -> FlopReport:
    """FLOPs of ``config`` in ``mode`` (default: one forward pass), per operation and in total."""
    conv = conventions or Conventions()
    mode = (mode or Mode()).resolved(config)
    costs = mode_costs(config.dims(), config, conv, mode)
    steps = {}
    if mode.kind == "generate" and mode.new_tokens > 1:  # the shapes of the decode steps
        p, n = mode.prompt, mode.new_tokens
        first, last = (model_ops(replace(config.dims(), seq_len=1, kv_len=t), config)
                       for t in (p + 1, p + n - 1))
        steps = {a.name: (a, b) for a, b in zip(first, last)}
    rows = tuple(FlopRow(op, macs, flops, steps.get(op.name)) for op, macs, flops in costs)
    return FlopReport(config, conv, rows, mode)


def decode_report(config: Config, position: int,
                  conventions: Conventions | None = None) -> FlopReport:
    """FLOPs of producing the token at ``position`` (1-based) with a KV cache of position-1 entries."""
    return flop_report(config, conventions, Mode("decode", position=position))


@dataclass(frozen=True)
class ParamRow:
    section: str
    op: str
    param: Param


@dataclass(frozen=True)
class ParamReport:
    """Every parameter tensor with its shape and count; the LM head is tied (no new tensor)."""

    config: Config
    rows: tuple[ParamRow, ...]

    def section_total(self, section: str) -> int:
        return sum(r.param.count for r in self.rows if r.section == section)

    @property
    def block_total(self) -> int:
        return self.section_total("block")

    @property
    def total(self) -> int:
        return (self.section_total("embedding") + self.block_total * self.config.n_layers
                + self.section_total("head"))

    @property
    def non_embedding(self) -> int:
        """Parameters outside the embeddings and any untied LM head (Kaplan et al. 2020's N)."""
        lm_head = sum(r.param.count for r in self.rows if r.op == "lm_head")
        return self.total - self.section_total("embedding") - lm_head


def param_report(config: Config) -> ParamReport:
    """Parameter tensors of ``config``'s model (independent of seq_len and batch)."""
    ops = model_ops(config.dims(), config)
    return ParamReport(config, tuple(ParamRow(op.section, op.name, p)
                                     for op in ops for p in op.params))


@dataclass(frozen=True)
class ShapeReport:
    """Every operation with its operand, weight and output (activation) shapes."""

    config: Config
    ops: tuple[Op, ...]
    mode: Mode = Mode()


def shape_report(config: Config, mode: Mode = Mode()) -> ShapeReport:
    """Shapes of every operation of ``config``'s forward pass, or (``mode`` decode) of the
    decode step at position t: one new token whose keys and values join a KV cache, so K and V
    are (B, h, t, d_head)."""
    mode = mode.resolved(config)
    if mode.kind not in ("forward", "decode"):
        raise FlopcalcError(f"shapes are shown for forward and decode, not {mode.kind}")
    dims = config.dims()
    if mode.kind == "decode":
        dims = replace(dims, seq_len=1, kv_len=mode.position)
    return ShapeReport(config, tuple(model_ops(dims, config)), mode)
