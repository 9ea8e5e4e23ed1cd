"""`flopcalc compare`: each published estimate, reproduced here from its paper's formula by
independent arithmetic, against the exact count of the same computation and scope."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from cli_helpers import invoke, one_line_error

from conftest import B, D, DFF, DH, H, L, NL, NPOS, V
from flopcalc import Config, Conventions, flop_report, param_report
from flopcalc.config import Mode
from flopcalc.estimates import compare, count, signed_percent
from fuzz_helpers import examples

# GPT-2 small, 128 tokens, batch 1, from first principles --------------------------------
# Kaplan's N: every parameter but wte and wpe; per block ln_1, c_attn, c_proj, ln_2, c_fc,
# c_proj (weights and biases), then ln_f.
N_BLOCK = 2 * D + (3 * D * D + 3 * D) + (D * D + D) + 2 * D + (D * DFF + DFF) + (DFF * D + D)
N = NL * N_BLOCK + 2 * D
assert N == 85_056_000
TOTAL_PARAMS = V * D + NPOS * D + N
assert TOTAL_PARAMS == 124_439_808
N_PALM = TOTAL_PARAMS - NPOS * D           # all but wpe (nanoGPT's reading of PaLM App. B)

BLOCK = 2 * B * L * (3 * D * D + D * D + 2 * D * DFF) + 2 * 2 * B * L * L * D  # dense matmuls
HEAD = 2 * B * L * D * V
FWD_BLOCKS = NL * BLOCK                    # 22,347,251,712
FWD_WHOLE = FWD_BLOCKS + HEAD              # 32,228,179,968
TRAIN_BLOCKS, TRAIN_WHOLE = 3 * FWD_BLOCKS, 3 * FWD_WHOLE  # backward = 2 matmuls per matmul
TRAIN_RECOMPUTE = 4 * FWD_BLOCKS + 3 * HEAD  # blocks run forward twice; the head once


def paper_estimates(c: Config) -> dict[str, Fraction]:
    """Each paper's formula, at config c, for the whole batch of B·L tokens."""
    b, t, d, h, q, layers, v, f = (c.batch, c.seq_len, c.d_model, c.n_heads, c.d_head,
                                   c.n_layers, c.vocab, c.d_ff)
    params = param_report(c)
    vocab_matrices = 1 if c.tied_lm_head else 2              # wte (and an untied LM head)
    n = params.total - vocab_matrices * v * d - c.n_positions * d  # Kaplan: no vocab/pos emb.
    n_palm = params.total - c.n_positions * d                # PaLM, as nanoGPT: no wpe
    c_fwd = 2 * n + 2 * layers * t * (h * q)                 # Kaplan Table 1, per token
    key_heads = q * h
    chinchilla_layer = (2 * 3 * t * d * key_heads + 2 * t * t * key_heads + 3 * h * t * t
                        + 2 * t * t * key_heads + 2 * t * key_heads * d + 2 * t * (d * f + d * f))
    return {
        "kaplan_2n": Fraction(2 * n * b * t),
        "kaplan_c_forward": Fraction(c_fwd * b * t),
        "kaplan_6n": Fraction(6 * n * b * t),
        "kaplan_3c_forward": Fraction(3 * c_fwd * b * t),
        "palm": Fraction((6 * n_palm + 12 * layers * h * q * t) * b * t),
        "hoffmann": Fraction(b * (2 * t * v * d + layers * chinchilla_layer + 2 * t * d * v)),
        "megatron_96": 96 * b * t * layers * d**2 * (1 + Fraction(t, 6 * d)
                                                      + Fraction(v, 16 * layers * d)),
        "megatron_72": 72 * b * t * layers * d**2 * (1 + Fraction(t, 6 * d)
                                                      + Fraction(v, 12 * layers * d)),
    }


def by_key(rows):
    return {r.key: r for r in rows}


def test_gpt2_small_estimates_exact_counts_and_errors_from_first_principles():
    rows = by_key(compare(Config()))
    c_fwd = (2 * N + 2 * NL * L * D) * B * L
    chinchilla = B * (2 * L * V * D + NL * (2 * 3 * L * D * D + 2 * L * L * D + 3 * H * L * L
                                            + 2 * L * L * D + 2 * L * D * D + 2 * L * 2 * D * DFF)
                      + 2 * L * D * V)
    expected = {  # key: (estimate, exact, error as printed)
        "kaplan_2n": (2 * N * B * L, FWD_BLOCKS, "−2.56%"),
        "kaplan_c_forward": (c_fwd, FWD_BLOCKS, "−1.21%"),
        "kaplan_6n": (6 * N * B * L, TRAIN_BLOCKS, "−2.56%"),
        "kaplan_3c_forward": (3 * c_fwd, TRAIN_BLOCKS, "−1.21%"),
        "palm": ((6 * N_PALM + 12 * NL * H * DH * L) * B * L, TRAIN_WHOLE, "+0.10%"),
        "hoffmann": (chinchilla, FWD_WHOLE, "+30.68%"),
        "megatron_96": (96 * B * L * NL * D * D + 16 * B * L * L * NL * D + 6 * B * L * D * V,
                        TRAIN_RECOMPUTE, "exact"),
        "megatron_72": (72 * B * L * NL * D * D + 12 * B * L * L * NL * D + 6 * B * L * D * V,
                        TRAIN_WHOLE, "exact"),
    }
    assert list(rows) == list(expected)
    for key, (estimate, exact, error) in expected.items():
        r = rows[key]
        assert (r.estimate, r.exact, signed_percent(r.error)) == (estimate, exact, error), key
    # the worked numbers of docs/method.md
    assert rows["hoffmann"].estimate == 42_116_186_112
    assert rows["megatron_96"].estimate == 119_031_791_616
    assert FWD_WHOLE == 32_228_179_968


CONFIGS = [
    Config(),
    Config(d_model=1600, n_heads=25, n_layers=48, seq_len=1024),          # gpt2-xl
    Config(d_model=256, n_heads=4, n_layers=2, d_ff=640, vocab=1000, n_positions=4096,
           seq_len=4096, batch=3),                                         # d_ff != 4·d_model
    Config(d_model=64, n_heads=2, n_layers=1, vocab=256_000, seq_len=16, bias=False,
           tied_lm_head=False, fused_qkv=False),                           # huge vocabulary
]
SCOPES = {  # what each estimate is compared with: (mode, embeddings and LM head included)
    "kaplan_2n": (Mode(), False), "kaplan_c_forward": (Mode(), False),
    "kaplan_6n": (Mode("train"), False), "kaplan_3c_forward": (Mode("train"), False),
    "palm": (Mode("train"), True), "hoffmann": (Mode(), True),
    "megatron_96": (Mode("train", recompute=True), True), "megatron_72": (Mode("train"), True),
}


@pytest.mark.parametrize("cfg", CONFIGS, ids=["gpt2", "gpt2-xl", "d_ff-640", "vocab-256k"])
@pytest.mark.parametrize("attention", ["dense", "causal"])
@pytest.mark.parametrize("elementwise", [False, True])
def test_each_estimate_is_its_papers_formula_against_the_same_exact_quantity(
        cfg, attention, elementwise):
    conv = Conventions(attention=attention, elementwise=elementwise)
    rows = by_key(compare(cfg, conv))
    for key, estimate in paper_estimates(cfg).items():
        assert rows[key].estimate == estimate, key
        assert rows[key].error == (estimate - rows[key].exact) / rows[key].exact
    for key, (mode, whole) in SCOPES.items():
        scope = Conventions(attention=attention, elementwise=elementwise, embeddings=whole,
                            lm_head=whole)
        assert rows[key].exact == flop_report(cfg, scope, mode).total, key


@settings(max_examples=examples(30), deadline=None)
@given(h=st.integers(1, 8), d_head=st.integers(1, 32), layers=st.integers(1, 8),
       seq=st.integers(1, 256), batch=st.integers(1, 4), vocab=st.integers(1, 60_000),
       bias=st.booleans(), fused=st.booleans())
def test_megatron_formulas_are_exact_for_gemms_whenever_d_ff_is_4h(h, d_head, layers, seq,
                                                                   batch, vocab, bias, fused):
    cfg = Config(d_model=h * d_head, n_heads=h, n_layers=layers, vocab=vocab, seq_len=seq,
                 n_positions=seq, batch=batch, bias=bias, fused_qkv=fused)
    rows = by_key(compare(cfg))  # dense, matmul-only: Megatron's "just these GEMMs"
    assert rows["megatron_96"].error == 0 and rows["megatron_72"].error == 0


def test_where_the_estimates_break_down():
    long = by_key(compare(Config(n_positions=65536, seq_len=65536)))
    assert long["kaplan_2n"].error < Fraction(-9, 10)      # 2N misses 90% at 64k tokens
    assert long["palm"].error == 0 or abs(long["palm"].error) < Fraction(1, 1000)
    small_vocab_heavy = by_key(compare(Config(d_model=64, n_heads=1, n_layers=1, seq_len=16)))
    assert small_vocab_heavy["hoffmann"].error > Fraction(9, 10)  # the one-hot embedding
    narrow_ffn = by_key(compare(Config(d_ff=768)))
    assert narrow_ffn["megatron_72"].error > 0             # it assumes d_ff = 4·d_model


def test_rounding_rules():
    assert signed_percent(Fraction(0)) == "exact"
    assert signed_percent(Fraction(1, 20000)) == "+0.01%"      # half away from zero
    assert signed_percent(Fraction(-1, 20000)) == "−0.01%"
    assert signed_percent(Fraction(-1, 20001)) == "−0.00%"     # not zero, so signed
    assert signed_percent(Fraction(-256, 10000)) == "−2.56%"
    assert count(Fraction(5, 2)) == 3 and count(Fraction(7, 3)) == 2 and count(Fraction(9)) == 9


# CLI --------------------------------------------------------------------------------------

def test_cli_compare_table_and_json():
    result = invoke("compare")
    assert result.exit_code == 0, result.stderr
    out = " ".join(result.stdout.split())
    for text in ["21,774,336,000", "22,347,251,712", "−2.56%", "+30.68%", "119,031,791,616",
                 "exact", "Kaplan et al. 2020", "Narayanan et al. 2021", "compared with"]:
        assert text in out, text
    doc = json.loads(invoke("compare", "--format", "json", "--attention", "causal").stdout)
    assert doc["schema"] == "flopcalc.compare" and doc["n_kaplan"] == N
    assert doc["conventions"]["attention"] == "causal"
    row = {r["key"]: r for r in doc["rows"]}["kaplan_2n"]
    assert row["estimate"] == 2 * N * L and row["estimate_is_exact"]
    num, den = row["relative_error"]
    assert Fraction(num, den) == Fraction(row["estimate"] - row["exact"], row["exact"])


def test_cli_compare_bad_input_is_one_line_exit_2():
    assert "must divide d_model" in one_line_error(invoke("compare", "--heads", "7"))
    one_line_error(invoke("compare", "--attention", "sparse"))


# Llama-3.1-8B at 8192 tokens, from its published config -----------------------------------
# Published total 8,030,261,248; Kaplan's N leaves out the token embedding and the untied LM
# head, both (vocab, d_model): 128256 × 4096 each. No position table (rotary).
LL_V, LL_D, LL_LAYERS, LL_H, LL_KV, LL_DH, LL_F, LL_T = 128256, 4096, 32, 32, 8, 128, 14336, 8192
LL_TOTAL = 8_030_261_248
LL_N = LL_TOTAL - 2 * LL_V * LL_D
# the same N from the blocks: q, k, v, o, gate, up, down and two RMSNorms, then the final norm
assert LL_N == LL_LAYERS * (LL_D * LL_H * LL_DH + 2 * LL_D * LL_KV * LL_DH + LL_H * LL_DH * LL_D
                            + 3 * LL_D * LL_F + 2 * LL_D) + LL_D == 6_979_588_096


def llama_rows():
    from flopcalc.architecture import Workload
    from flopcalc.architectures.presets import preset_architecture

    return {c.key: c for c in compare(preset_architecture("llama-3.1-8b"), Conventions(),
                                      Workload(1, LL_T))}


def test_llama_6n_and_2n_use_n_without_the_embeddings():
    rows = llama_rows()
    assert rows["kaplan_6n"].estimate == 6 * LL_N * LL_T
    assert rows["kaplan_2n"].estimate == 2 * LL_N * LL_T
    # C_forward's attention term: 2 · n_layer · n_ctx · d_attn per token, d_attn = 32 · 128
    assert rows["kaplan_c_forward"].estimate == (2 * LL_N + 2 * LL_LAYERS * LL_T * LL_H * LL_DH) * LL_T
    # PaLM: N is every parameter (rotary positions have no table to leave out)
    assert rows["palm"].estimate == (6 * LL_TOTAL + 12 * LL_LAYERS * LL_H * LL_DH * LL_T) * LL_T


def test_llama_rows_name_the_features_their_formula_does_not_cover():
    rows = llama_rows()
    for key in ("hoffmann", "megatron_96", "megatron_72"):
        assert "does not cover grouped-query attention (8 K/V heads for 32)" in rows[key].ignores
        assert "a gated MLP" in rows[key].ignores
    for key in ("kaplan_2n", "kaplan_6n", "palm", "kaplan_c_forward"):
        assert "does not cover" not in rows[key].ignores  # N counts what the model has


def test_a_sliding_window_is_named_on_every_attention_term():
    from flopcalc.architecture import Workload
    from flopcalc.architectures.presets import preset_architecture

    rows = {c.key: c for c in compare(preset_architecture("mistral-7b-v0.1"), Conventions(),
                                      Workload(1, 8192))}
    for key in ("kaplan_c_forward", "palm", "hoffmann", "megatron_72"):
        assert "sliding window (4096 keys on 32 of 32 layers" in rows[key].ignores
    assert "sliding window" not in rows["kaplan_6n"].ignores


def test_compare_runs_for_llama_on_the_command_line():
    from test_cli import ok

    doc = json.loads(ok("compare", "--preset", "llama-3.1-8b", "--seq-len", "8192",
                        "--format", "json").stdout)
    assert doc["n_kaplan"] == LL_N and doc["n_palm"] == LL_TOTAL
    assert doc["config"]["family"] == "llama" and doc["config"]["seq_len"] == LL_T
    six_n = next(r for r in doc["rows"] if r["key"] == "kaplan_6n")
    assert six_n["estimate"] == 6 * LL_N * LL_T
