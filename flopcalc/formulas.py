"""Symbolic FLOP formulas: the same ``model.build_ops`` evaluated over sympy symbols.

This is the only module that imports sympy; the numeric commands never load it.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import sympy as sp

from .analysis import mode_costs, total_flops
from .config import Conventions, Mode
from .model import Dims, build_ops

B, L, d_model, h, d_ff, n_layers, V, n_ctx, t, p, n = sp.symbols(
    "B L d_model h d_ff n_layers V n_ctx t p n", positive=True, integer=True)

SYMBOLS = {"batch": B, "seq_len": L, "d_model": d_model, "n_heads": h, "d_ff": d_ff,
           "n_layers": n_layers, "vocab": V, "n_positions": n_ctx}


def symbolic_dims() -> Dims:
    """Dimensions as sympy symbols; d_head is d_model / h, so totals are polynomials in d_model."""
    return Dims(batch=B, seq_len=L, d_model=d_model, n_heads=h, d_head=d_model / h, d_ff=d_ff,
                n_layers=n_layers, vocab=V, n_positions=n_ctx)


def symbolic_mode(kind: str = "forward", recompute: bool = False) -> Mode:
    """A mode whose decode position is t and whose generation is a prompt p plus n new tokens."""
    if kind == "decode":
        return Mode(kind, position=t)
    if kind == "generate":
        return Mode(kind, prompt=p, new_tokens=n)
    return Mode(kind, recompute=recompute)


@dataclass(frozen=True)
class Formulas:
    """Each counted operation's FLOPs and the block / model totals as simplified expressions."""

    conventions: Conventions
    mode: Mode
    rows: tuple[tuple[str, str, sp.Expr], ...]   # (section, operation, FLOPs)
    block: sp.Expr
    total: sp.Expr

    def substitute(self, config, position=None, prompt=None, new_tokens=None) -> dict:
        """The formulas evaluated at a Config (and t, p, n): exact ints keyed like the rows."""
        values = {SYMBOLS[k]: v for k, v in config.dims().__dict__.items() if k in SYMBOLS}
        values.update({s: v for s, v in ((t, position), (p, prompt), (n, new_tokens))
                       if v is not None})
        out = {(s, name): int(expr.subs(values)) for s, name, expr in self.rows}
        out["block"] = int(self.block.subs(values))
        out["total"] = int(self.total.subs(values))
        return out


def formulas(conventions: Conventions | None = None, fused_qkv: bool = True, bias: bool = True,
             mode: Mode | None = None, tied_lm_head: bool = True,
             activation: str = "gelu_tanh") -> Formulas:
    """FLOP formulas of the GPT-2 ``mode`` (default forward) under ``conventions``."""
    conv = conventions or Conventions()
    mode = mode or symbolic_mode()
    arch = SimpleNamespace(fused_qkv=fused_qkv, bias=bias, tied_lm_head=tied_lm_head,
                           activation=activation)
    costs = mode_costs(symbolic_dims(), arch, conv, mode)
    rows = tuple((op.section, op.name, sp.factor(sp.sympify(flops))) for op, _, flops in costs)
    block = sp.expand(sum(flops for op, _, flops in costs if op.section == "block"))
    total = sp.expand(total_flops(costs, n_layers))
    return Formulas(conv, mode, rows, block, total)


def as_text(expr) -> str:
    return sp.sstr(expr)


def as_latex(expr) -> str:
    return sp.latex(expr)
