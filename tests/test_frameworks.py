"""Each framework's training-FLOP formula, reproduced here by hand from its source for GPT-2
small at 1,024 tokens (docs/frameworks.md), then checked against flopcalc.frameworks."""

import json
from dataclasses import replace
from fractions import Fraction

import pytest

from flopcalc import frameworks as fw
from flopcalc.config import make_config
from cli_helpers import invoke, one_line_error
from test_cli import ok

GPT2 = make_config("gpt2", None, seq_len=1024)
D, L, H, DH, F, V, S, NPOS = 768, 12, 12, 64, 3072, 50257, 1024, 1024
N_TOTAL = 124_439_808            # GPT-2 small, Hugging Face's count (tied head)
WTE, WPE = V * D, NPOS * D       # 38,597,376 and 786,432


def test_the_adapter_gives_gpt2_small_s_published_parameter_count():
    summary = fw.from_config(GPT2)
    assert summary.params_total == N_TOTAL
    # per block: ln_1, c_attn bias, attn c_proj bias, ln_2, c_fc bias, mlp c_proj bias; + ln_f
    assert summary.params_vectors == 12 * (2 * D + 3 * D + D + 2 * D + F + D) + 2 * D
    assert (summary.n_kv_heads, summary.d_head, summary.gated_mlp) == (12, 64, False)


def by_key():
    return {c.framework.key: c for c in fw.compare(GPT2)}


def test_megatron_num_floating_point_operations():
    # 3 (fwd, wgrad, dgrad) × 2 (FMA) per GEMM; vocab padded to a multiple of 128: 50304
    per_token = (3 * 2 * D * (F * 2) * L                      # MLP, two matrices
                 + L * 3 * 2 * (D * (D + D + D) + D * D)      # QKV + output projection
                 + 3 * 2 * D * 50304)                         # logits
    core = S * S * L * (3 * 2 * D // 2 * 2)                   # causal: /2, two GEMMs
    assert by_key()["megatron"].total == S * per_token + core == 817_184_636_928


def test_maxtext_calculate_tflops_training_per_device():
    ffn = 2 * S * F * D * 1 + 2 * S * F * D                   # mlp_activations = ["gelu"]
    qkv = 2 * S * D * (H + 2 * H) * DH
    proj = 2 * S * D * H * DH
    causal = 4 * S ** 2 * H * DH // 2
    emb = 2 * S * D * V
    assert by_key()["maxtext"].total == 3 * (ffn * L + (qkv + proj) * L + emb) + 3 * causal * L


def test_torchtitan_dense_model_flops():
    # tied weights: every parameter stays in N; 6·L·H·(2·d_head)·seq_len, no causal halving
    assert by_key()["torchtitan"].total == S * (6 * N_TOTAL + 6 * L * H * (2 * DH) * S)


def test_nanogpt_estimate_mfu():
    n = N_TOTAL - WPE
    assert n == 123_653_376  # nanoGPT prints "number of parameters: 123.65M" for gpt2
    assert by_key()["nanogpt"].total == S * (6 * n + 12 * L * H * DH * S)


def test_hugging_face_floating_point_ops():
    n = N_TOTAL - WTE - WPE  # num_parameters(exclude_embeddings=True): both nn.Embedding tables
    assert by_key()["huggingface"].total == 6 * S * n == 522_584_064_000


def test_llm_foundry_flops_per_batch():
    n = N_TOTAL  # tied: the token embedding is not subtracted
    assert by_key()["llm_foundry"].total == (2 * n * S + L * 2 * 2 * (D * S ** 2)) * 3 * 1


def test_untied_heads_change_what_each_6n_keeps():
    untied = {c.framework.key: c for c in fw.compare(GPT2.with_(tied_lm_head=False))}
    n_untied = N_TOTAL + V * D
    # torchtitan drops every nn.Embedding (wte and wpe) when untied; HF likewise
    assert untied["torchtitan"].total == S * (6 * (n_untied - WTE - WPE) + 6 * L * H * 2 * DH * S)
    assert untied["huggingface"].total == 6 * S * (n_untied - WTE - WPE)
    # llm-foundry drops only wte; nanoGPT's get_num_params drops only wpe
    assert untied["llm_foundry"].total == (2 * (n_untied - WTE) * S + 4 * L * D * S ** 2) * 3
    assert untied["nanogpt"].total == S * (6 * (n_untied - WPE) + 12 * L * H * DH * S)


# flopcalc's exact training step, matmuls only: forward multiply-adds per token and layer
PROJ_MLP_MACS = D * 3 * D + D * D + 2 * D * F


def test_the_exact_side_is_flopcalc_s_training_step_under_the_framework_s_attention():
    dense_fwd = 2 * (S * L * (PROJ_MLP_MACS + 2 * S * D) + S * D * V)
    causal_fwd = 2 * (S * L * PROJ_MLP_MACS + L * 2 * D * (S * (S + 1) // 2) + S * D * V)
    rows = by_key()
    assert rows["torchtitan"].exact == rows["nanogpt"].exact == 3 * dense_fwd
    assert rows["megatron"].exact == rows["maxtext"].exact == 3 * causal_fwd


def test_the_term_by_term_differences_explain_the_whole_gap():
    for c in fw.compare(GPT2):
        assert sum(m - e for _, m, e, _ in c.differences()) == c.total - c.exact
    meg = dict((t, (m, e)) for t, m, e, _ in by_key()["megatron"].differences())
    # the causal diagonal Megatron's s²/2 leaves out: 3 passes · 2 FLOPs · 2 GEMMs · d · s / 2
    assert meg[fw.CORE][0] - meg[fw.CORE][1] == -6 * D * S * L
    assert meg[fw.LM_HEAD][0] - meg[fw.LM_HEAD][1] == 6 * S * D * (50304 - V)
    assert set(meg) == {fw.CORE, fw.LM_HEAD}  # projections and MLP agree exactly


def test_a_feature_no_formula_models_is_named_not_invented():
    summary = replace(fw.from_config(GPT2), features=("sliding-window attention",))
    rows = fw.compare(GPT2, summary)
    tables = fw.frameworks_tables(GPT2, rows)
    assert any("sliding-window attention is not modelled" in n for n in tables[0].notes)
    assert fw.frameworks_json(GPT2, rows)["not_covered"] == ["sliding-window attention"]


def test_the_command_prints_both_tables_and_json():
    out = " ".join(ok("frameworks", "--preset", "gpt2", "--seq-len", "1024", "-f",
                      "markdown").stdout.split())
    assert "817,184,636,928" in out and "diagonal" in out and "Hugging Face" in out
    doc = json.loads(ok("frameworks", "--preset", "gpt2", "--seq-len", "1024", "-f",
                        "json").stdout)
    assert {r["key"]: r["flops_per_step"] for r in doc["rows"]}["huggingface"] == 522_584_064_000


@pytest.mark.parametrize("args, says", [
    (["--seq-len", "0"], "seq_len"),
    (["--table", "nope"], "nope"),
])
def test_bad_input_is_one_line(args, says):
    assert says in one_line_error(invoke("frameworks", *args))


# Llama-3.1-8B at seq 8192, batch 1: each formula written out here from its source -------------
LD, LL, LH, LKV, LDH, LF, LV, LS = 4096, 32, 32, 8, 128, 14336, 128256, 8192
L_TOTAL = 8_030_261_248             # published; untied head: embed_tokens and lm_head apart
L_EMBED = LV * LD                   # 525,336,576, as is the LM head
L_NORMS = LL * 2 * LD + LD          # two RMSNorms per layer and the final one: no biases


def llama():
    from flopcalc.architecture import Workload
    from flopcalc.architectures.presets import preset_architecture

    return preset_architecture("llama-3.1-8b"), Workload(1, LS)


def llama_by_key():
    arch, load = llama()
    return {c.framework.key: c for c in fw.compare(arch, workload=load)}


def test_the_adapter_reads_llama_s_architecture():
    s = fw.from_architecture(*llama())
    assert s.params_total == L_TOTAL and s.params_vectors == L_NORMS
    assert (s.n_kv_heads, s.d_head, s.gated_mlp, s.tied_lm_head) == (8, 128, True, False)
    assert s.params_position == 0 and s.features == ()  # rotary: no position table


def test_llama_megatron():
    # Megatron's grouping: 12·B·s·L·h²·((1 + g/a + s/(2h))·(kv_channels·a/h) + (F/h)·3/2)
    # + 6·B·s·h·V (vocab 128256 is already a multiple of 128)
    h, q = LD, LH * LDH
    blocks = 12 * LS * LL * h * h * ((1 + Fraction(LKV, LH) + Fraction(LS, 2 * h)) * Fraction(q, h)
                                    + Fraction(LF, h) * Fraction(3, 2))
    assert 128256 % 128 == 0
    assert llama_by_key()["megatron"].total == blocks + 6 * LS * h * LV


def test_llama_maxtext():
    ffn1 = 2 * LS * LF * LD * 2          # mlp_activations = ["silu", "linear"]: gate and up
    ffn2 = 2 * LS * LF * LD
    qkv = 2 * LS * LD * (LH + 2 * LKV) * LDH
    proj = 2 * LS * LD * LH * LDH
    causal = 4 * LS ** 2 * LH * LDH // 2
    emb = 2 * LS * LD * LV
    assert llama_by_key()["maxtext"].total == (3 * ((ffn1 + ffn2 + qkv + proj) * LL + emb)
                                              + 3 * causal * LL)


def test_llama_torchtitan():
    # untied: the nn.Embedding (embed_tokens) leaves N, the output projection stays
    n = L_TOTAL - L_EMBED
    assert llama_by_key()["torchtitan"].total == LS * (6 * n + 6 * LL * LH * (2 * LDH) * LS)


def test_llama_nanogpt():
    # get_num_params() subtracts a position table only: Llama has none, so N is every parameter
    assert llama_by_key()["nanogpt"].total == LS * (6 * L_TOTAL + 12 * LL * LH * LDH * LS)


def test_llama_hugging_face():
    # exclude_embeddings drops nn.Embedding weights; the untied lm_head is an nn.Linear
    assert llama_by_key()["huggingface"].total == 6 * LS * (L_TOTAL - L_EMBED)


def test_llama_llm_foundry():
    n = L_TOTAL - L_EMBED
    assert llama_by_key()["llm_foundry"].total == (2 * n * LS + LL * 2 * 2 * LD * LS ** 2) * 3


def test_llama_exact_side_and_its_terms():
    # matmuls of a training step, 3 × the forward: q, k, v, o, gate, up, down, the head, and
    # dense attention's two S×S GEMMs per layer
    weights = LL * (2 * LD * LH * LDH + 2 * LD * LKV * LDH + 3 * LD * LF) + LD * LV
    dense = 3 * (2 * LS * weights + LL * 2 * 2 * LS * LS * LH * LDH)
    assert llama_by_key()["torchtitan"].exact == dense
    terms = llama_by_key()["torchtitan"].exact_terms
    assert terms[fw.MLP] == 3 * 2 * LS * LL * 3 * LD * LF
    assert terms[fw.LM_HEAD] == 3 * 2 * LS * LD * LV
    assert terms[fw.POSITION] == terms[fw.TOKEN] == terms[fw.VECTORS] == 0


def test_a_sliding_window_is_named_not_invented():
    from flopcalc.architecture import Workload
    from flopcalc.architectures.presets import preset_architecture

    arch = preset_architecture("mistral-7b-v0.1")
    rows = fw.compare(arch, workload=Workload(1, 8192))
    assert rows[0].not_covered == ("Sliding-window attention (4096 keys on 32 of 32 layers; "
                                   "the exact count caps the keys)",)
    notes = fw.frameworks_tables(arch, rows, Workload(1, 8192))[0].notes
    assert any(n.startswith("Sliding-window attention (4096 keys") for n in notes)


def test_frameworks_and_mfu_run_for_llama_on_the_command_line():
    doc = json.loads(ok("frameworks", "--preset", "llama-3.1-8b", "--seq-len", "8192",
                        "--format", "json").stdout)
    assert doc["config"]["family"] == "llama" and doc["tokens_per_step"] == LS
    nanogpt = next(r for r in doc["rows"] if r["key"] == "nanogpt")
    assert nanogpt["flops_per_token"] == 6 * L_TOTAL + 12 * LL * LH * LDH * LS
    mfu = json.loads(ok("mfu", "--preset", "llama-3.1-8b", "--seq-len", "8192",
                        "--tokens-per-second", "80000", "--devices", "8", "--device", "h100",
                        "--format", "json").stdout)
    row = next(r for r in mfu["rows"] if r["name"] == "nanoGPT")
    # utilisation = FLOPs per token × tokens/s / (8 × 989.4 TFLOP/s)
    expected = Fraction(6 * L_TOTAL + 12 * LL * LH * LDH * LS) * 80000 / (8 * Fraction("989.4e12"))
    assert row["utilisation_exact"] == f"{expected.numerator}/{expected.denominator}"
