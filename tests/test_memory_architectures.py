"""`flopcalc memory` for every architecture: parameters, the KV cache with KV heads and
windows, saved activations per role, and roofline rows over layer groups.

Expected numbers are worked out here from the published configurations (heads, widths,
windows) by first-principles arithmetic, never read back from the code under test.
"""

from __future__ import annotations

import json
from fractions import Fraction

import pytest
from cli_helpers import invoke

from flopcalc.architecture import Architecture, Workload
from flopcalc.architectures.presets import make_architecture
from flopcalc.memory import (activation_report, kv_cache_bytes, kv_cache_groups, memory_report,
                             op_bytes, param_bytes, roofline_report)


def preset(name: str) -> Architecture:
    return make_architecture(name, None, None)


# ---------------------------------------------------------------------------------------
# KV cache: 2 (K and V) · layers · B · tokens held · n_kv_heads · d_head
# ---------------------------------------------------------------------------------------


def test_llama_3_1_8b_kv_cache_at_8192_tokens_is_32_layers_of_8_kv_heads_of_128():
    assert kv_cache_bytes(preset("llama-3.1-8b"), 8192, "bf16") == 2 * 32 * 8 * 128 * 8192 * 2
    assert kv_cache_bytes(preset("llama-3.1-8b"), 8192, "bf16") == 1_073_741_824  # 1 GiB
    # batch multiplies it; MHA (GPT-2-like) would be n_heads / n_kv_heads = 4 times larger
    assert kv_cache_bytes(preset("llama-3.1-8b"), 8192, "bf16", Workload(4, 8192)) == \
        4 * 2 * 32 * 8 * 128 * 8192 * 2


def test_mistral_7b_holds_only_its_4096_token_window_per_layer():
    mistral = preset("mistral-7b-v0.1")
    (block,) = kv_cache_groups(mistral, 32768)
    assert (block.repeat, block.tokens) == (32, 4096)
    assert kv_cache_bytes(mistral, 32768, "bf16") == 2 * 32 * 8 * 128 * 4096 * 2
    # within the window every token is held
    assert kv_cache_bytes(mistral, 1000, "bf16") == 2 * 32 * 8 * 128 * 1000 * 2


def test_gemma_2_9b_windowed_layers_cap_at_4096_and_full_layers_hold_every_token():
    gemma = preset("gemma-2-9b")          # 42 layers: 21 sliding (W = 4096), 21 full; 8 KV heads of 256
    sliding, full = kv_cache_groups(gemma, 8192)
    assert (sliding.name, sliding.repeat, sliding.tokens) == ("sliding", 21, 4096)
    assert (full.name, full.repeat, full.tokens) == ("full", 21, 8192)
    assert kv_cache_bytes(gemma, 8192, "bf16") == \
        21 * 2 * 8 * 256 * 4096 * 2 + 21 * 2 * 8 * 256 * 8192 * 2
    assert kv_cache_bytes(gemma, 2048, "bf16") == 42 * 2 * 8 * 256 * 2048 * 2


def test_parameter_bytes_of_released_models_are_their_published_counts_times_the_dtype():
    assert param_bytes(preset("llama-3.1-8b"), "bf16") == 2 * 8_030_261_248   # untied head
    assert param_bytes(preset("gemma-2-9b"), "bf16") == 2 * 9_241_705_984     # tied: once
    assert param_bytes(preset("mistral-7b-v0.1"), "fp32") == 4 * 7_241_732_096


# ---------------------------------------------------------------------------------------
# Saved activations, per role
# ---------------------------------------------------------------------------------------


def test_llama_block_saves_gqa_keys_and_values_and_the_gated_mlp_tensors():
    arch = preset("llama-3.1-8b")
    b, s, d, h, kv, dh, f, v = 2, 64, 4096, 32, 8, 128, 14336, 128256
    act = activation_report(arch, "bf16", workload=Workload(b, s))
    x = b * s * d
    # block input, norm output, q, attention output A, MLP-norm input and output: 6 (B, L, d);
    # k and v at 8 KV heads; P (B, h, L, L); the gate input g, act(g), u and act(g)·u
    assert act.block_elements == 6 * x + 2 * b * kv * s * dh + b * h * s * s + 4 * b * s * f
    assert act.section_elements("head") == 2 * x + b * s * v      # final norm in/out, logits
    assert act.peak_elements == 32 * act.block_elements + 2 * x + b * s * v
    shapes = {r.tensor: r.shape for r in act.rows}
    assert shapes["k"] == shapes["v"] == (b, kv, s, dh)      # stored before the repeat to 32


def test_parallel_residual_stores_the_block_input_once():
    arch = preset("pythia-1.4b")          # 16 heads of 128 = d_model 2048, d_ff 8192
    b, s, d, h, f = 1, 32, 2048, 16, 8192
    act = activation_report(arch, "bf16", workload=Workload(b, s))
    x = b * s * d
    # block input (read by both norms), norm 1 output, q, k, v, A, norm 2 output; P; GELU in, out
    assert act.block_elements == 7 * x + b * h * s * s + 2 * b * s * f
    assert sum("block input" in r.tensor for r in act.rows) == 1


def test_gemma_2_saves_the_soft_caps_and_post_norm_inputs_in_both_groups():
    arch = preset("gemma-2-9b")           # d 3584, 16 heads / 8 KV heads of 256, d_ff 14336
    b, s, d, h, kv, dh, f, v = 1, 16, 3584, 16, 8, 256, 14336, 256000
    act = activation_report(arch, "bf16", workload=Workload(b, s))
    x, q = b * s * d, b * s * h * dh
    # block input, norm out, A (h·d_head wide), post-attn-norm input, pre-MLP-norm in and out,
    # post-MLP-norm input; q; k, v; tanh of the capped scores and P; g, act(g), u, act(g)·u
    one = 6 * x + 2 * q + 2 * b * kv * s * dh + 2 * b * h * s * s + 4 * b * s * f
    assert act.group_elements("sliding") == act.group_elements("full") == one
    assert act.block_groups == (("sliding", 21), ("full", 21))
    assert act.peak_elements == 42 * one + 2 * x + b * s * v    # the loss reads the capped logits
    recompute = activation_report(arch, "bf16", True, Workload(b, s))
    assert recompute.peak_elements == 42 * x + (one - x) + 2 * x + b * s * v


# ---------------------------------------------------------------------------------------
# Roofline over layer groups; the lookup's own tables
# ---------------------------------------------------------------------------------------


def test_a_lookup_moves_one_row_of_each_of_its_tables_per_token():
    llama = roofline_report(preset("llama-3.1-8b"), workload=Workload(1, 8))
    embed = next(r for r in llama.rows if r.op.role == "embedding")
    assert op_bytes(embed.op, 2) == 2 * (8 * 4096 + 8 * 4096)   # read a row, write it: 1 table
    assert op_bytes(embed.op, 2, backward=True) == 2 * 3 * 8 * 4096


def test_gemma_roofline_rows_count_their_groups_repeat():
    gemma = preset("gemma-2-9b")
    report = roofline_report(gemma, workload=Workload(1, 8192))
    repeats = {(r.group, r.repeat) for r in report.rows}
    assert repeats == {("embedding", 1), ("sliding", 21), ("full", 21), ("head", 1)}
    # dense forward matmuls: per layer 2·L·d·(h + 2·h_kv)·d_head (q, k, v), 2·L·h·d_head·d (o),
    # 2·L·L·h·d_head twice (scores, P·V), 3 · 2·L·d·d_ff; the head 2·L·d·V
    L, d, h, kv, dh, f, V = 8192, 3584, 16, 8, 256, 14336, 256000
    layer = (2 * L * d * (h + 2 * kv) * dh + 2 * L * h * dh * d + 2 * 2 * L * L * h * dh
             + 3 * 2 * L * d * f)
    assert report.flops == 42 * layer + 2 * L * d * V


def test_decode_step_of_mistral_reads_a_4096_token_cache():
    mistral = preset("mistral-7b-v0.1")
    report = memory_report(mistral, mode="decode", position=32768, workload=Workload(1, 128))
    assert report.kv_tokens == 32768
    assert report.kv_elements == 2 * 32 * 8 * 128 * 4096
    scores = next(r for r in report.decode.rows if r.op.role == "attention.scores")
    assert scores.flops == 2 * 32 * 128 * 4096                 # one query, 32 heads, W keys


# ---------------------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------------------


def test_memory_command_takes_every_architecture():
    result = invoke("memory", "--preset", "llama-3.1-8b", "--seq-len", "8192", "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["memory"]["kv_cache"]["bytes"] == 2 * 32 * 8 * 128 * 8192 * 2
    assert doc["memory"]["parameters"]["count"] == 8_030_261_248
    assert doc["config"]["family"] == "llama"


def test_memory_table_shows_gemma_2s_cache_per_group():
    result = invoke("memory", "--preset", "gemma-2-9b", "--seq-len", "8192", "--table", "summary",
                    "--format", "csv")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert f'"KV cache, sliding block ×21",4096 tokens per layer,{21 * 2 * 8 * 256 * 4096},' \
        f"{21 * 2 * 8 * 256 * 4096 * 2}" in lines
    assert f'"KV cache, full block ×21",8192 tokens per layer,{21 * 2 * 8 * 256 * 8192},' \
        f"{21 * 2 * 8 * 256 * 8192 * 2}" in lines


def test_every_released_model_gets_a_memory_report_in_every_mode():
    for name in ("qwen3-8b", "phi-3-mini-4k", "pythia-1.4b", "qwen2.5-7b"):
        for mode in ("forward", "train", "decode"):
            result = invoke("memory", "--preset", name, "--seq-len", "16", "--mode", mode,
                            "--format", "json")
            assert result.exit_code == 0, (name, mode, result.stderr)
            doc = json.loads(result.stdout)
            assert Fraction(doc["totals"]["time_s"]) > 0


def test_multi_query_attention_caches_one_head_per_layer():
    mqa = Architecture(family="llama", d_model=256, n_layers=3, n_heads=4, n_kv_heads=1,
                       mlp="gated", activation="silu", norm="rmsnorm", positions="rotary",
                       qkv_bias=False, o_bias=False, mlp_bias=False, norm_bias=False,
                       fused_qkv=False, tied_lm_head=False)
    assert kv_cache_bytes(mqa, 100, "fp32", Workload(2, 100)) == 2 * 3 * 2 * 100 * 1 * 64 * 4
