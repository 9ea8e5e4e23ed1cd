"""Each framework's training-FLOP formula, reproduced here by hand from its source for GPT-2
small at 1,024 tokens (docs/frameworks.md), then checked against flopcalc.frameworks."""

import json
from dataclasses import replace

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
