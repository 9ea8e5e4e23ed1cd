"""Symbolic FLOP formulas: the same ``model.build_ops`` evaluated over sympy symbols.

This is the only module that imports sympy; the numeric commands never load it.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .analysis import counted, op_flops, total_flops
from .config import Conventions
from .model import Dims, build_ops

B, L, d_model, h, d_ff, n_layers, V, n_ctx = sp.symbols(
    "B L d_model h d_ff n_layers V n_ctx", positive=True, integer=True)

SYMBOLS = {"batch": B, "seq_len": L, "d_model": d_model, "n_heads": h, "d_ff": d_ff,
           "n_layers": n_layers, "vocab": V, "n_positions": n_ctx}


def symbolic_dims() -> Dims:
    """Dimensions as sympy symbols; d_head is d_model / h, so totals are polynomials in d_model."""
    return Dims(batch=B, seq_len=L, d_model=d_model, n_heads=h, d_head=d_model / h, d_ff=d_ff,
                n_layers=n_layers, vocab=V, n_positions=n_ctx)


@dataclass(frozen=True)
class Formulas:
    """Each counted operation's FLOPs and the block / model totals as simplified expressions."""

    conventions: Conventions
    rows: tuple[tuple[str, str, sp.Expr], ...]   # (section, operation, FLOPs)
    block: sp.Expr
    total: sp.Expr

    def substitute(self, config) -> dict:
        """The formulas evaluated at a Config: exact ints, keyed like the rows plus block/total."""
        values = {SYMBOLS[k]: v for k, v in config.dims().__dict__.items() if k in SYMBOLS}
        out = {(s, name): int(expr.subs(values)) for s, name, expr in self.rows}
        out["block"] = int(self.block.subs(values))
        out["total"] = int(self.total.subs(values))
        return out


def formulas(conventions: Conventions | None = None, fused_qkv: bool = True,
             bias: bool = True) -> Formulas:
    """FLOP formulas of the GPT-2 forward pass under ``conventions``."""
    conv = conventions or Conventions()
    ops = build_ops(symbolic_dims(), fused_qkv=fused_qkv, bias=bias)
    rows = tuple((op.section, op.name, sp.factor(sp.sympify(op_flops(op, conv))))
                 for op in ops if counted(op, conv))
    block = sp.expand(sum(op_flops(op, conv) for op in ops
                          if counted(op, conv) and op.section == "block"))
    total = sp.expand(total_flops(ops, n_layers, conv))
    return Formulas(conv, rows, block, total)


def as_text(expr) -> str:
    return sp.sstr(expr)


def as_latex(expr) -> str:
    return sp.latex(expr)
