"""Symbolic FLOP formulas: the same builders and rules evaluated over sympy symbols.

This is the only module that imports sympy; the numeric commands never load it.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .architecture import Architecture, Workload
from .config import Conventions, Mode
from .analysis import mode_costs, total_flops
from .model import Dims

B, L, d_model, h, d_ff, n_layers, V, n_ctx, t, p, n = sp.symbols(
    "B L d_model h d_ff n_layers V n_ctx t p n", positive=True, integer=True)
# the dimensions beyond GPT-2's: KV heads, head width, rotated dims, window, windowed layers
h_kv, d_head, d_rot, W, n_w = sp.symbols("h_kv d_head d_rot W n_w", positive=True, integer=True)
# the windowed MoE layers, when only some layers are windowed and only some are MoE
n_wm = sp.Symbol("n_wm", nonnegative=True, integer=True)

# experts: E routed experts of d_e, k per token, shared d_s, n_moe MoE layers, G groups;
# latent attention: ranks r_q and r_kv, head widths d_nope, d_rope (q/k) and d_v
E, k, d_e, d_s, n_moe, G, r_q, r_kv, d_nope, d_rope, d_v = sp.symbols(
    "E k d_e d_s n_moe G r_q r_kv d_nope d_rope d_v", positive=True, integer=True)

SYMBOLS = {"batch": B, "seq_len": L, "d_model": d_model, "n_heads": h, "d_ff": d_ff,
           "n_layers": n_layers, "vocab": V, "n_positions": n_ctx}
EXTRA_SYMBOLS = {"n_kv_heads": h_kv, "d_head": d_head, "rotary_dims": d_rot,
                 "sliding_window": W, "n_windowed": n_w, "n_windowed_moe": n_wm}
MOE_SYMBOLS = {"n_experts": E, "top_k": k, "d_expert": d_e, "d_shared": d_s, "n_moe": n_moe,
               "n_groups": G}
MLA_SYMBOLS = {"q_lora_rank": r_q, "kv_lora_rank": r_kv, "qk_nope_head_dim": d_nope,
               "qk_rope_head_dim": d_rope, "v_head_dim": d_v}


def symbolic_dims(arch: Architecture | None = None) -> Dims:
    """Dimensions as sympy symbols. GPT-2's d_head is d_model / h, so its totals are
    polynomials in d_model; the other families get a symbol for each size they set apart
    (h_kv, d_head, d_rot for partial rotary, W and n_w for windows; E, k, d_e, d_s, n_moe
    and G for experts; n_wm the windowed MoE layers when only some layers are each; r_q,
    r_kv, d_nope, d_rope, d_v for latent attention, whose d_head is d_nope + d_rope)."""
    arch = arch or Architecture()
    # GPT-2 and GPT-NeoX heads split d_model, unless the architecture sets d_head apart
    split_family = arch.heads_split_d_model
    split = split_family and arch.d_head * arch.n_heads == arch.d_model
    head = d_model / h if split else d_nope + d_rope if arch.is_mla else d_head
    windowed = {0: 0, arch.n_layers: n_layers}.get(arch.n_windowed, n_w)
    moe = {0: 0, arch.n_layers: n_layers}.get(arch.n_moe, n_moe)
    mla = arch.is_mla
    rotary = d_rope if mla else head if arch.rotary_dims in (None, arch.d_head) else d_rot

    def given(name, symbol):
        return None if getattr(arch, name) is None else symbol
    return Dims(batch=B, seq_len=L, d_model=d_model, n_heads=h, d_head=head, d_ff=d_ff,
                n_layers=n_layers, vocab=V, n_positions=n_ctx,
                n_kv_heads=h if mla or (split_family and arch.n_kv_heads == arch.n_heads)
                else h_kv, rotary_dims=rotary,
                window=W if arch.sliding_window is not None else None, n_windowed=windowed,
                n_experts=given("n_experts", E), top_k=given("top_k", k),
                d_expert=given("d_expert", d_e), d_shared=given("d_shared", d_s),
                n_moe=moe, n_windowed_moe=n_wm if windowed is n_w and moe is n_moe else None,
                n_groups=given("n_groups", G), q_rank=given("q_lora_rank", r_q),
                kv_rank=given("kv_lora_rank", r_kv), d_nope=given("qk_nope_head_dim", d_nope),
                d_rope=given("qk_rope_head_dim", d_rope), d_v=given("v_head_dim", d_v))


def symbol_values(arch: Architecture, workload: Workload | None = None) -> dict:
    """The symbols' values for ``arch`` (and ``workload``'s batch and seq_len)."""
    values = {SYMBOLS[k]: getattr(arch, k) for k in SYMBOLS if hasattr(arch, k)}
    values.update({s: getattr(arch, k) for k, s in {**EXTRA_SYMBOLS, **MOE_SYMBOLS,
                                                     **MLA_SYMBOLS}.items()
                   if getattr(arch, k) is not None})
    if workload is not None:
        values.update({B: workload.batch, L: workload.seq_len})
    return values


def symbolic_mode(kind: str = "forward", recompute: bool = False) -> Mode:
    """A mode whose decode position is t and whose generation is a prompt p plus n new tokens."""
    if kind == "decode":
        return Mode(kind, position=t)
    if kind == "generate":
        return Mode(kind, prompt=p, new_tokens=n)
    return Mode(kind, recompute=recompute)


@dataclass(frozen=True)
class Formulas:
    """Each counted operation's FLOPs and the block / model totals as simplified expressions.

    Rows are keyed by (group, operation): a model with one kind of block has the groups
    ``embedding``, ``block``, ``head``; Gemma-2 has ``sliding`` and ``full`` blocks.
    ``block`` is one block's FLOPs when all blocks are alike (else None); ``groups`` gives
    each group's repeat count and one repeat's FLOPs.
    """

    conventions: Conventions
    mode: Mode
    rows: tuple[tuple[str, str, sp.Expr], ...]   # (group, operation, FLOPs)
    block: sp.Expr | None
    total: sp.Expr
    groups: tuple[tuple[str, sp.Expr, sp.Expr], ...] = ()   # (group, repeat, FLOPs of one)
    architecture: Architecture = Architecture()

    def substitute(self, config, position=None, prompt=None, new_tokens=None) -> dict:
        """The formulas evaluated at a Config (and t, p, n): exact ints keyed like the rows."""
        if isinstance(config, Architecture):
            values = symbol_values(config)
        elif hasattr(config, "dims"):  # a Config: its dims are GPT-2's
            values = {SYMBOLS[k]: v for k, v in config.dims().__dict__.items() if k in SYMBOLS}
        else:
            values = dict(config)
        return self.evaluate(values, position, prompt, new_tokens)

    def evaluate(self, values: dict, position=None, prompt=None, new_tokens=None) -> dict:
        """The formulas at symbol values: exact ints keyed like the rows."""
        values = dict(values)
        values.update({s: v for s, v in ((t, position), (p, prompt), (n, new_tokens))
                       if v is not None})
        out = {(g, name): int(expr.subs(values)) for g, name, expr in self.rows}
        if self.block is not None:
            out["block"] = int(self.block.subs(values))
        out["total"] = int(self.total.subs(values))
        return out


def formulas(conventions: Conventions | None = None, fused_qkv: bool = True, bias: bool = True,
             mode: Mode | None = None, tied_lm_head: bool = True,
             activation: str = "gelu_tanh", architecture: Architecture | None = None) -> Formulas:
    """FLOP formulas of ``mode`` (default forward) under ``conventions``.

    ``architecture`` gives the family and switches (its sizes become symbols); without
    it, GPT-2 with the given ``fused_qkv``, ``bias``, ``tied_lm_head`` and ``activation``.
    """
    conv = conventions or Conventions()
    mode = mode or symbolic_mode()
    arch = architecture or Architecture(fused_qkv=fused_qkv, qkv_bias=bias, o_bias=bias,
                                        mlp_bias=bias, norm_bias=bias, tied_lm_head=tied_lm_head,
                                        activation=activation)
    costs = mode_costs(arch, symbolic_dims(arch), conv, mode)
    rows = tuple((g.name, op.name, sp.factor(sp.sympify(flops)))
                 for g, ops in costs for op, _, flops in ops)
    groups = tuple((g.name, sp.sympify(g.repeat), sp.expand(sum(f for _, _, f in ops)))
                   for g, ops in costs)
    blocks = [g for g in groups if g[0] not in ("embedding", "head")]
    block = blocks[0][2] if len(blocks) == 1 else None
    total = sp.expand(total_flops(costs))
    return Formulas(conv, mode, rows, block, total, groups, arch)


def as_text(expr) -> str:
    return sp.sstr(expr)


def as_latex(expr) -> str:
    return sp.latex(expr)
