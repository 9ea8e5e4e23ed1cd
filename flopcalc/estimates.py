"""Published FLOP estimates next to flopcalc's exact count of the same quantity.

Each estimate is the paper's formula evaluated with exact ``Fraction`` arithmetic at the
config (per-token formulas times the B·L tokens of the batch). Each is compared with the
exact count (``analysis.flop_report``) of what it estimates: the same computation (forward,
training step, with or without recomputation) over the same part of the model. Sources and
derivations: docs/estimates.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from .analysis import flop_report, param_report
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


VOCAB_AND_POSITION = ("wte.weight", "wpe.weight", "lm_head.weight")


def kaplan_n(config: Config) -> int:
    """Kaplan et al.'s N, "excluding all vocabulary and positional embeddings": every parameter
    but wte, wpe and an untied LM head's (d_model, vocab) weight (``ParamReport.non_embedding``
    keeps the latter)."""
    report = param_report(config)
    return report.total - sum(r.param.count for r in report.rows
                              if r.param.name in VOCAB_AND_POSITION)


def palm_n(config: Config) -> int:
    """N for PaLM's formula: every parameter but the position embedding (wpe), as nanoGPT's
    ``estimate_mfu`` reads App. B; the tied wte is counted once, as the LM head matmul."""
    report = param_report(config)
    return report.total - sum(r.param.count for r in report.rows if r.param.name == "wpe.weight")


def compare(config: Config, conventions: Conventions | None = None) -> list[Comparison]:
    """Every estimate at ``config`` with its exact count.

    ``conventions`` chooses how the exact side counts attention (dense/causal) and whether it
    adds elementwise work; its scope and FLOPs per MAC are set per estimate (2 FLOPs per MAC,
    the papers' convention).
    """
    conv = conventions or Conventions()

    def exact(scope: str, mode: Mode) -> int:
        whole = scope == WHOLE
        c = Conventions(flops_per_mac=2, attention=conv.attention, elementwise=conv.elementwise,
                        embeddings=whole, lm_head=whole)
        return flop_report(config, c, mode).total

    B, T, d, H, Q = config.batch, config.seq_len, config.d_model, config.n_heads, config.d_head
    layers, V, F = config.n_layers, config.vocab, config.d_ff
    tokens = B * T
    N, Np = kaplan_n(config), palm_n(config)
    fwd, train = Mode("forward"), Mode("train")
    fwd_blocks, train_blocks = exact(BLOCKS, fwd), exact(BLOCKS, train)
    fwd_whole, train_whole = exact(WHOLE, fwd), exact(WHOLE, train)
    # recomputation re-runs the transformer blocks' forward, not the embedding or the LM head
    train_recompute = exact(WHOLE, Mode("train", recompute=True))

    c_forward = Fraction(2 * N + 2 * layers * T * d)  # per token; d_attn = heads·d_head = d_model
    hoffmann_layer = (2 * 3 * T * d * (Q * H) + 2 * T * T * (Q * H) + 3 * H * T * T
                      + 2 * T * T * (Q * H) + 2 * T * (Q * H) * d + 2 * T * (d * F + d * F))
    hoffmann = 2 * T * V * d + layers * hoffmann_layer + 2 * T * d * V  # per sequence
    s, l, h = T, layers, d
    gemm = "elementwise work (GEMMs only); takes d_ff = 4·d_model"
    per_param = "adds {} FLOPs per bias and LayerNorm parameter per token"
    return [
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
                   "elementwise work; " + per_param.format(6) + " (N: all but wpe)"),
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


def compare_table(config: Config, conventions: Conventions, rows: list[Comparison]):
    """The comparison as a ``tables.Table``: one row per estimate."""
    from .tables import Table, config_note, readable

    table = Table(
        title="Published FLOP estimates against the exact count",
        notes=[config_note(config),
               "Exact counts: 2 FLOPs per multiply-add; " + "; ".join(conventions.describe()
                                                                       .split("; ")[1:3])
               + "; scope and computation as in the 'compared with' column.",
               f"Counts are for the whole batch: B·L = {config.batch * config.seq_len:,} tokens. "
               f"N = {kaplan_n(config):,} (Kaplan: all but the vocabulary and position embeddings); "
               f"PaLM's N = {palm_n(config):,} (all but wpe).",
               ROUNDING],
        columns=["estimate", "source", "formula", "estimate FLOPs", "≈", "exact FLOPs",
                 "compared with", "error %", "ignores"],
        align="lllrrrlrl", optional=("source", "formula", "≈", "ignores"),
        drop_order=("compared with", "estimate FLOPs"))
    for c in rows:
        table.rows.append([c.name, c.source, c.formula, count(c.estimate),
                           readable(count(c.estimate), "FLOP"), c.exact, c.compared_with,
                           _error_cell(c.error), c.ignores])
    return table


def _error_cell(error: Fraction):
    """``signed_percent`` as a table cell: ``−2.56%`` to read, ``-2.56`` in CSV."""
    from .tables import Num

    text = signed_percent(error)
    return Num(text, "0" if error == 0 else text.rstrip("%").replace("−", "-").lstrip("+"))


def compare_json(config: Config, conventions: Conventions, rows: list[Comparison]) -> dict:
    from .tables import JSON_SCHEMA_VERSION

    return {
        "schema": "flopcalc.compare", "schema_version": JSON_SCHEMA_VERSION,
        "config": config.as_dict(),
        "conventions": {"attention": conventions.attention, "elementwise": conventions.elementwise,
                        "flops_per_mac": 2},
        "n_kaplan": kaplan_n(config), "n_palm": palm_n(config),
        "rows": [{"key": c.key, "name": c.name, "source": c.source, "formula": c.formula,
                  "estimate": count(c.estimate), "estimate_is_exact": c.estimate.denominator == 1,
                  "exact": c.exact, "compared_with": c.compared_with,
                  "relative_error": [c.error.numerator, c.error.denominator],
                  "relative_error_percent": signed_percent(c.error), "ignores": c.ignores}
                 for c in rows],
    }
