"""Published FLOP estimates next to flopcalc's exact count of the same quantity.

Each estimate is the paper's formula evaluated with exact ``Fraction`` arithmetic at the
config (per-token formulas times the B·L tokens of the batch). Each is compared with the
exact count (``analysis.flop_report``) of what it estimates: the same computation (forward,
training step, with or without recomputation) over the same part of the model. Any
architecture: N is found by the parameters' roles (embedding, embedding.positions, lm_head),
and where a formula does not model a feature of the architecture (grouped-query attention, a
gated MLP, a sliding window …) its row says so instead of gaining a term. Sources and
derivations: docs/estimates.md.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction

from .analysis import flop_report, param_report, split_model
from .architecture import Architecture, Workload
from .config import Config, Conventions, Mode

BLOCKS = "transformer blocks only"
WHOLE = "whole model"


@dataclass(frozen=True)
class Comparison:
    """One published estimate and the exact count it is compared with."""

    key: str            # short id, stable in JSON
    name: str
    source: str
    formula: str        # the paper's formula, for the whole batch of B·L tokens
    estimate: Fraction
    exact: int
    compared_with: str  # which exact count: computation and scope
    ignores: str        # what the estimate leaves out (or adds) against the exact count

    @property
    def error(self) -> Fraction:
        """Relative error (estimate − exact) / exact; negative means an underestimate."""
        return (self.estimate - self.exact) / self.exact


ROUNDING = ("Estimates are evaluated exactly (Fractions); one that is not a whole number is "
            "shown rounded half up. Errors are (estimate − exact) / exact, rounded half away "
            "from zero to 0.01%.")


def count(value: Fraction) -> int:
    """An estimate as an int: exact when integral, else rounded half up (the formulas here are
    whole numbers at whole-number dimensions, but the rule is stated in every table)."""
    return (2 * value.numerator + value.denominator) // (2 * value.denominator)


def signed_percent(x: Fraction) -> str:
    """``+1.37%`` / ``−2.56%``: two decimals, rounded half away from zero; ``exact`` for 0."""
    if x == 0:
        return "exact"
    hundredths = (abs(x.numerator) * 20000 + x.denominator) // (2 * x.denominator)
    return f"{'−' if x < 0 else '+'}{hundredths // 100}.{hundredths % 100:02d}%"


# Kaplan et al.'s N leaves out "all vocabulary and positional embeddings": the token and
# position tables and an untied LM head's (vocab, d_model) weight (a tied one owns no tensor).
VOCAB_AND_POSITION = ("embedding", "embedding.positions", "lm_head")


def _params_of(model, roles: tuple[str, ...]) -> int:
    report = param_report(model)
    return sum(r.param.count * r.times for r in report.rows if r.role in roles)


def kaplan_n(model: Config | Architecture) -> int:
    """Kaplan et al.'s N, "excluding all vocabulary and positional embeddings": every parameter
    but the token and position embeddings and an untied LM head's (vocab, d_model) weight."""
    return param_report(model).total - _params_of(model, VOCAB_AND_POSITION)


def kaplan_n_active(model: Config | Architecture) -> int:
    """Kaplan's N with each MoE layer's routed experts counted as a token uses them: top_k of
    their n_experts (``ParamReport.active``), the N of the "6·N_active" rule quoted for
    mixtures of experts. Equal to ``kaplan_n`` for a dense model."""
    return param_report(model).active - _params_of(model, VOCAB_AND_POSITION)


def position_params(arch: Architecture) -> int:
    """The learned position table's parameters (n_positions × d_model; GPT-2 stores it with
    the token table in its embedding op), 0 for rotary positions, which have no table."""
    return arch.n_positions * arch.d_model if arch.learned_positions else 0


def palm_n(model: Config | Architecture) -> int:
    """N for PaLM's formula: every parameter but a learned position table, as nanoGPT's
    ``estimate_mfu`` reads App. B; a tied token embedding is counted once, as the LM head."""
    report = param_report(model)
    return report.total - position_params(report.architecture)


def is_moe(arch: Architecture) -> bool:
    return arch.n_experts is not None and arch.n_moe > 0


def not_covered(arch: Architecture) -> dict[str, list[str]]:
    """Per estimate key, the features of ``arch`` its formula does not model (its row says
    so; no term is invented for them)."""
    window = ([f"sliding window ({arch.sliding_window} keys on {arch.n_windowed} of "
               f"{arch.n_layers} layers: the formula's attention term is full)"]
              if arch.sliding_window is not None else [])
    gqa = ([f"grouped-query attention ({arch.n_kv_heads} K/V heads for {arch.n_heads})"]
           if arch.n_kv_heads != arch.n_heads else [])
    gated = ["a gated MLP (3 matrices, the formula has 2)"] if arch.mlp == "gated" else []
    width = ([f"attention width n_heads·d_head = {arch.n_heads * arch.d_head:,} ≠ d_model"]
             if arch.n_heads * arch.d_head != arch.d_model else [])
    moe = ([f"a mixture of experts ({arch.n_moe} of {arch.n_layers} layers route each token "
            f"to top_k = {arch.top_k} of n_experts = {arch.n_experts}: the formula has one "
            "dense MLP of d_ff per layer)"] if is_moe(arch) else [])
    latent = ([f"latent attention (its projections go through kv_lora_rank = "
               f"{arch.kv_lora_rank}" + (f" and q_lora_rank = {arch.q_lora_rank}"
                                          if arch.q_lora_rank is not None else "")
               + f"; values are v_head_dim = {arch.v_head_dim} wide, queries and keys "
               f"d_head = {arch.d_head})"] if arch.kv_lora_rank is not None else [])
    # the N-based formulas cover a mixture of experts through N (with which N is their
    # question, below), and latent attention's projections through N; their attention term
    # takes one head width for both matmuls
    attention = latent and ["latent attention (the attention term takes d_head = "
                            f"{arch.d_head} for QKᵀ and P·V; values are v_head_dim = "
                            f"{arch.v_head_dim} wide)"]
    return {"kaplan_2n": [], "kaplan_6n": [],
            "kaplan_c_forward": width + window + attention,
            "kaplan_3c_forward": width + window + attention,
            "palm": window + attention, "hoffmann": gqa + gated + window + moe + latent,
            "megatron_96": gqa + gated + width + window + moe + latent,
            "megatron_72": gqa + gated + width + window + moe + latent,
            "kaplan_2n_active": [], "kaplan_6n_active": [], "palm_active": window + attention}


def compare(model: Config | Architecture, conventions: Conventions | None = None,
            workload: Workload | None = None) -> list[Comparison]:
    """Every estimate for ``model`` (a Config, or an Architecture on ``workload``) with its
    exact count.

    ``conventions`` chooses how the exact side counts attention (dense/causal) and whether it
    adds elementwise work; its scope and FLOPs per MAC are set per estimate (2 FLOPs per MAC,
    the papers' convention).
    """
    arch, load, _ = split_model(model, workload)
    conv = conventions or Conventions()

    def exact(scope: str, mode: Mode) -> int:
        whole = scope == WHOLE
        c = Conventions(flops_per_mac=2, attention=conv.attention, elementwise=conv.elementwise,
                        embeddings=whole, lm_head=whole)
        return flop_report(arch, c, mode, load).total

    B, T, d, H, Q = load.batch, load.seq_len, arch.d_model, arch.n_heads, arch.d_head
    layers, V, F = arch.n_layers, arch.vocab, arch.d_ff
    tokens = B * T
    N, Np = kaplan_n(arch), palm_n(arch)
    fwd, train = Mode("forward"), Mode("train")
    fwd_blocks, train_blocks = exact(BLOCKS, fwd), exact(BLOCKS, train)
    fwd_whole, train_whole = exact(WHOLE, fwd), exact(WHOLE, train)
    # recomputation re-runs the transformer blocks' forward, not the embedding or the LM head
    train_recompute = exact(WHOLE, Mode("train", recompute=True))

    c_forward = Fraction(2 * N + 2 * layers * T * H * Q)  # per token; d_attn = heads·d_head
    hoffmann_layer = (2 * 3 * T * d * (Q * H) + 2 * T * T * (Q * H) + 3 * H * T * T
                      + 2 * T * T * (Q * H) + 2 * T * (Q * H) * d + 2 * T * (d * F + d * F))
    hoffmann = 2 * T * V * d + layers * hoffmann_layer + 2 * T * d * V  # per sequence
    s, l, h = T, layers, d
    gemm = "elementwise work (GEMMs only); takes d_ff = 4·d_model"
    norm = "LayerNorm" if arch.norm == "layernorm" else "RMSNorm"
    per_param = "adds {} FLOPs per bias and " + norm + " parameter per token"
    rows = [
        Comparison("kaplan_2n", "2N", "Kaplan et al. 2020, §2.1", "2·N·B·L",
                   Fraction(2 * N * tokens), fwd_blocks, f"forward, {BLOCKS}",
                   "QKᵀ and P·V (grow with L), elementwise work; " + per_param.format(2)),
        Comparison("kaplan_c_forward", "C_forward", "Kaplan et al. 2020, Table 1",
                   "(2N + 2·n_layer·n_ctx·d_attn)·B·L", c_forward * tokens, fwd_blocks,
                   f"forward, {BLOCKS}", "half of dense QKᵀ + P·V (one n_ctx term), elementwise "
                   "work; " + per_param.format(2)),
        Comparison("kaplan_6n", "6N", "Kaplan et al. 2020, §2.1", "6·N·B·L",
                   Fraction(6 * N * tokens), train_blocks, f"training step, {BLOCKS}",
                   "QKᵀ and P·V (grow with L), elementwise work; " + per_param.format(6)),
        Comparison("kaplan_3c_forward", "3·C_forward", "Kaplan et al. 2020, §2.1 and Table 1",
                   "3·(2N + 2·n_layer·n_ctx·d_attn)·B·L", 3 * c_forward * tokens, train_blocks,
                   f"training step, {BLOCKS}", "half of dense QKᵀ + P·V, elementwise work; "
                   + per_param.format(6)),
        Comparison("palm", "6N + 12LHQT", "Chowdhery et al. 2022 (PaLM), App. B",
                   "(6N + 12·L·H·Q·T)·B·T", Fraction((6 * Np + 12 * layers * H * Q * T) * tokens),
                   train_whole, f"training step, {WHOLE}",
                   "elementwise work; " + per_param.format(6) + f" (N: {_palm_n_text(arch)})"),
        Comparison("hoffmann", "Chinchilla forward", "Hoffmann et al. 2022, App. F",
                   "B·(emb + n_layers·(attn + dense) + logits)", Fraction(B * hoffmann),
                   fwd_whole, f"forward, {WHOLE}",
                   "elementwise work but softmax; adds the embedding as a one-hot matmul "
                   "(2·T·V·d_model) and 3 FLOPs per softmax score"),
        Comparison("megatron_96", "Megatron, recompute", "Narayanan et al. 2021, §5.1 eq. (3)",
                   "96·B·s·l·h²·(1 + s/(6h) + V/(16·l·h))",
                   96 * B * s * l * h * h * (1 + Fraction(s, 6 * h) + Fraction(V, 16 * l * h)),
                   train_recompute, f"training step, blocks recomputed, {WHOLE}", gemm),
        Comparison("megatron_72", "Megatron, no recompute",
                   "Korthikanti et al. 2022, model FLOPs",
                   "72·B·s·l·h²·(1 + s/(6h) + V/(12·l·h))",
                   72 * B * s * l * h * h * (1 + Fraction(s, 6 * h) + Fraction(V, 12 * l * h)),
                   train_whole, f"training step, {WHOLE}", gemm),
    ]
    if is_moe(arch):
        rows = _moe_rows(arch, rows, tokens)
    missing = not_covered(arch)
    return [replace(c, ignores=c.ignores + "; does not cover " + ", ".join(missing[c.key]))
            if missing[c.key] else c for c in rows]


def _moe_rows(arch: Architecture, rows: list[Comparison], tokens: int) -> list[Comparison]:
    """For a mixture of experts: which N each N-based estimate uses (N_total, every expert),
    and the same estimates with N_active (routed experts counted top_k of n_experts), the
    rule of thumb quoted for MoE training (6·N_active per token), against the same exact
    counts."""
    E, k = arch.n_experts, arch.top_k
    extra = kaplan_n_active(arch) - kaplan_n(arch)   # < 0: the experts a token does not use
    total = f"N = N_total: every expert of each MoE layer (all {E}), though a token uses {k}"
    active = (f"N = N_active: each MoE layer's routed experts counted {k} of {E}, as a token "
              "uses them")
    named = {"kaplan_2n": "2·N_total", "kaplan_6n": "6·N_total", "palm": "6·N_total + 12LHQT",
             "kaplan_c_forward": "C_forward (N_total)",
             "kaplan_3c_forward": "3·C_forward (N_total)"}
    by_key = {c.key: c for c in rows}

    def with_active(key: str, new_key: str, name: str, formula: str, per_n: int, **more):
        c = by_key[key]
        return replace(c, key=new_key, name=name, formula=formula,
                       estimate=c.estimate + per_n * extra * tokens,
                       ignores=f"{active}; {c.ignores}", **more)

    active_rows = {
        "kaplan_2n": with_active("kaplan_2n", "kaplan_2n_active", "2·N_active",
                                 "2·N_active·B·L", 2),
        "kaplan_6n": with_active("kaplan_6n", "kaplan_6n_active", "6·N_active",
                                 "6·N_active·B·L", 6, source="Kaplan et al. 2020, §2.1, with "
                                 "N_active (the MoE rule of thumb)"),
        # PaLM's N differs from Kaplan's by the vocabulary tables, not by the experts
        "palm": with_active("palm", "palm_active", "6·N_active + 12LHQT",
                            "(6N_active + 12·L·H·Q·T)·B·T", 6)}
    out = []
    for c in rows:  # each N_total row, then its N_active twin
        out.append(replace(c, name=named[c.key], ignores=f"{total}; {c.ignores}")
                   if c.key in named else c)
        out += [active_rows[c.key]] if c.key in active_rows else []
    return out


@dataclass(frozen=True)
class Subject:
    """What a table is about, as ``tables.model_note`` and ``model_json`` read it: the GPT-2
    Config when there is one, else the architecture and its workload."""

    config: Config | None
    architecture: Architecture
    workload: Workload


def subject(model: Config | Architecture, workload: Workload | None = None) -> Subject:
    arch, load, config = split_model(model, workload)
    return Subject(config, arch, load)


def _palm_n_text(arch: Architecture) -> str:
    if not arch.learned_positions:
        return "every parameter: rotary positions have no table"
    # the embedding's tensors after the token table: the learned position table (GPT-2's wpe)
    return f"all but {', '.join(param_report(arch).embedding_tensors[1:])}"


def compare_table(model: Config | Architecture, conventions: Conventions,
                  rows: list[Comparison], workload: Workload | None = None):
    """The comparison as a ``tables.Table``: one row per estimate."""
    from .tables import Table, exact_cell, model_note, per_token_note, readable, tokens_of

    about = subject(model, workload)
    arch, load = about.architecture, about.workload
    tokens, what = tokens_of(Mode(), load)   # every estimate is of a pass over the batch
    table = Table(
        title="Published FLOP estimates against the exact count",
        notes=[model_note(about),
               "Exact counts: 2 FLOPs per multiply-add; " + "; ".join(conventions.describe()
                                                                       .split("; ")[1:3])
               + "; scope and computation as in the 'compared with' column.",
               f"Counts are for the whole batch: B·L = {tokens:,} tokens. "
               f"N = {kaplan_n(arch):,} (Kaplan: all but the vocabulary and position embeddings); "
               f"PaLM's N = {palm_n(arch):,} ({_palm_n_text(arch)})."
               + (f" Mixture of experts: those N are N_total, every expert of each MoE layer; "
                  f"N_active = {kaplan_n_active(arch):,} (Kaplan's, PaLM's: "
                  f"{palm_n(arch) + kaplan_n_active(arch) - kaplan_n(arch):,}) counts "
                  f"top_k = {arch.top_k} of the n_experts = {arch.n_experts} routed experts, "
                  "as each token uses them. Each N-based row says which N it uses."
                  if is_moe(arch) else ""),
               ROUNDING],
        columns=["estimate", "source", "formula", "estimate FLOPs", "≈", "exact FLOPs",
                 "compared with", "error %", "ignores", "estimate per token",
                 "exact per token"],
        align="lllrrrlrlrr", optional=("source", "formula", "≈", "ignores"),
        drop_order=("compared with", "estimate per token", "exact per token", "estimate FLOPs"))
    for c in rows:
        table.rows.append([c.name, c.source, c.formula, count(c.estimate),
                           readable(count(c.estimate), "FLOP"), c.exact, c.compared_with,
                           _error_cell(c.error), c.ignores, exact_cell(c.estimate / tokens),
                           exact_cell(Fraction(c.exact, tokens))])
    table.notes.insert(3, per_token_note([c.estimate for c in rows] + [c.exact for c in rows],
                                         tokens, what,
                                         "each count (the estimate exactly, before rounding)"))
    return table


def _error_cell(error: Fraction):
    """``signed_percent`` as a table cell: ``−2.56%`` to read, ``-2.56`` in CSV."""
    from .tables import Num

    text = signed_percent(error)
    return Num(text, "0" if error == 0 else text.rstrip("%").replace("−", "-").lstrip("+"))


def compare_json(model: Config | Architecture, conventions: Conventions,
                 rows: list[Comparison], workload: Workload | None = None) -> dict:
    from .tables import JSON_SCHEMA_VERSION, exact_text, model_json, tokens_of

    about = subject(model, workload)
    tokens, _ = tokens_of(Mode(), about.workload)
    return {
        "schema": "flopcalc.compare", "schema_version": JSON_SCHEMA_VERSION,
        "config": model_json(about),
        "conventions": {"attention": conventions.attention, "elementwise": conventions.elementwise,
                        "flops_per_mac": 2},
        "n_kaplan": kaplan_n(about.architecture), "n_palm": palm_n(about.architecture),
        **({"n_kaplan_active": kaplan_n_active(about.architecture)}
           if is_moe(about.architecture) else {}),
        "rows": [{"key": c.key, "name": c.name, "source": c.source, "formula": c.formula,
                  "estimate": count(c.estimate), "estimate_is_exact": c.estimate.denominator == 1,
                  "exact": c.exact, "compared_with": c.compared_with,
                  "relative_error": [c.error.numerator, c.error.denominator],
                  "relative_error_percent": signed_percent(c.error), "ignores": c.ignores,
                  "estimate_per_token": exact_text(c.estimate / tokens, separators=False),
                  "exact_per_token": exact_text(Fraction(c.exact, tokens), separators=False)}
                 for c in rows],
        "tokens": tokens,
    }
