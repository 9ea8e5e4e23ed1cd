"""FLOP, parameter and shape reports of a Config, all derived from ``model.build_ops``.

Pure computation: exact Python ints, no sympy, no numpy, no rendering.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .config import Config, Conventions, FlopcalcError
from .model import Dim, Op, Param, build_ops, op_elementwise_flops, op_macs


def op_flops(op: Op, conv: Conventions) -> Dim:
    """FLOPs of one operation under the given conventions (ints in, int out; symbols in, formula out)."""
    flops = conv.flops_per_mac * op_macs(op, conv.causal)
    if conv.elementwise:
        flops += op_elementwise_flops(op, conv.causal)
    return flops


def counted(op: Op, conv: Conventions) -> bool:
    """Whether an operation gets a row in the FLOP table under these conventions."""
    if op.section not in conv.sections:
        return False
    return op.kind in ("matmul", "lookup") or (op.kind == "elementwise" and conv.elementwise)


def total_flops(ops: list[Op], n_layers: Dim, conv: Conventions) -> Dim:
    """The forward pass's FLOPs: block operations count n_layers times."""
    return sum(op_flops(op, conv) * (n_layers if op.section == "block" else 1)
               for op in ops if counted(op, conv))


@dataclass(frozen=True)
class FlopRow:
    op: Op
    macs: int
    flops: int


@dataclass(frozen=True)
class FlopReport:
    """FLOPs of one forward pass, one row per operation, with its totals."""

    config: Config
    conventions: Conventions
    rows: tuple[FlopRow, ...]

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
                kv_len: int | None = None) -> FlopReport:
    """FLOPs of ``config``'s forward pass, per operation and in total.

    ``kv_len`` (default ``seq_len``) is how many keys the queries attend to, counting any
    cached ones: see ``decode_report``.
    """
    conv = conventions or Conventions()
    dims = config.dims() if kv_len is None else replace(config.dims(), kv_len=kv_len)
    ops = build_ops(dims, fused_qkv=config.fused_qkv, bias=config.bias)
    rows = tuple(FlopRow(op, op_macs(op, conv.causal), op_flops(op, conv))
                 for op in ops if counted(op, conv))
    return FlopReport(config, conv, rows)


def decode_report(config: Config, position: int,
                  conventions: Conventions | None = None) -> FlopReport:
    """FLOPs of producing the token at ``position`` (1-based) with a KV cache of position-1 entries.

    One new token per sequence runs through every operation; its query attends to
    ``position`` keys, so dense and causal counts agree.
    """
    if not (isinstance(position, int) and 1 <= position <= config.n_positions):
        raise FlopcalcError(f"position must be a whole number from 1 to n_positions "
                            f"({config.n_positions}), got {position!r}")
    return flop_report(replace(config, seq_len=1), conventions, kv_len=position)


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
        """Parameters outside the token and position embeddings (Kaplan et al. 2020's N)."""
        return self.total - self.section_total("embedding")


def param_report(config: Config) -> ParamReport:
    """Parameter tensors of ``config``'s model (independent of seq_len and batch)."""
    ops = build_ops(config.dims(), fused_qkv=config.fused_qkv, bias=config.bias)
    return ParamReport(config, tuple(ParamRow(op.section, op.name, p)
                                     for op in ops for p in op.params))


@dataclass(frozen=True)
class ShapeReport:
    """Every operation with its operand, weight and output (activation) shapes."""

    config: Config
    ops: tuple[Op, ...]


def shape_report(config: Config) -> ShapeReport:
    """Shapes of every operation of ``config``'s forward pass."""
    return ShapeReport(config, tuple(build_ops(config.dims(), fused_qkv=config.fused_qkv,
                                               bias=config.bias)))
