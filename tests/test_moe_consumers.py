"""Every consumer on mixtures of experts and latent attention (issue 10, item 5): memory,
shapes, compare, frameworks, mfu, budget, sweep and plot, each number worked out here from
the models' published sizes, never by asking the code under test."""

import json
from fractions import Fraction

import pytest

from flopcalc import Conventions
from flopcalc import estimates as est
from flopcalc import frameworks as fw
from flopcalc.analysis import shape_report
from flopcalc.architecture import Workload
from flopcalc.architectures.presets import preset_architecture, preset_fields
from flopcalc.config import Mode
from flopcalc.memory import (activation_report, kv_cache_bytes, kv_cache_groups,
                             memory_json, memory_report, op_bytes, param_bytes,
                             roofline_report)
from flopcalc.sweep import parse_axis, run
from flopcalc.tables import experts_note, shape_json

from cli_helpers import invoke

DS = preset_architecture("deepseek-v3")
MIXTRAL = preset_architecture("mixtral-8x7b")
QWEN = preset_architecture("qwen1.5-moe-a2.7b")

# DeepSeek-V3: 61 layers (3 dense, 58 MoE), d_model 7168, 128 heads, latent of 512 and a
# rotary key of 64; 256 routed experts of 2048, 8 per token, one shared expert of 2048.
DS_D = 7168
# Mixtral-8x7B: 32 layers, d_model 4096, 32 heads (8 K/V heads) of 128, 8 experts of 14336,
# 2 per token.
MX_D, MX_H, MX_F, MX_V = 4096, 32, 14336, 32000


def ok(*args):
    result = invoke(*args)
    assert result.exit_code == 0, (args, result.stdout[-2000:], result.stderr)
    return result


# memory ------------------------------------------------------------------------------------

def test_the_deepseek_v3_cache_is_the_latent_and_its_rotary_key_per_token_per_layer():
    # 61 layers × (512 + 64) values × tokens × 2 bytes in bf16
    assert kv_cache_bytes(DS, 4096, "bf16") == 61 * (512 + 64) * 4096 * 2
    assert kv_cache_bytes(DS, 4096, "bf16") == 287_834_112
    assert kv_cache_bytes(DS, 100, "fp32", Workload(4, 100)) == 61 * (512 + 64) * 100 * 4 * 4
    groups = kv_cache_groups(DS, 1000)
    assert [(g.name, g.repeat, g.tokens, g.elements, g.latent) for g in groups] == [
        ("dense", 3, 1000, 576 * 1000, True), ("moe", 58, 1000, 576 * 1000, True)]
    # far less than 128 heads of K (128 + 64 wide) and V (128) would hold
    assert 61 * 128 * (192 + 128) * 4096 * 2 // kv_cache_bytes(DS, 4096, "bf16") == 71


def test_an_moe_model_with_grouped_query_attention_caches_k_and_v_as_before():
    assert kv_cache_bytes(MIXTRAL, 8192, "bf16") == 2 * 32 * 8 * 128 * 8192 * 2


def test_memory_holds_every_expert_and_says_what_else_the_checkpoint_stores():
    assert param_bytes(DS, "bf16") == 2 * 671_026_404_352
    assert param_bytes(MIXTRAL, "bf16") == 2 * 46_702_792_704
    report = memory_report(DS, mode="decode", workload=Workload(1, 128))
    assert report.routed_param_count == 58 * 256 * 3 * 7168 * 2048 == 653_908_770_816
    assert report.also_stored == 58 * 256 == 14_848
    doc = memory_json(report)
    assert doc["memory"]["parameters"] == {"count": 671_026_404_352,
                                           "bytes": 2 * 671_026_404_352,
                                           "routed_experts": 653_908_770_816,
                                           "also_stored": 14_848}
    assert doc["memory"]["kv_cache"]["bytes"] == 61 * 576 * 128 * 2
    assert all(g["latent"] for g in doc["memory"]["kv_cache"]["groups"])
    assert memory_report(MIXTRAL, workload=Workload(1, 8)).routed_param_count == \
        32 * 8 * 3 * 4096 * 14336
    assert memory_report(preset_architecture("llama-3.1-8b")).routed_param_count == 0


def _row(report, group, name):
    return next(r for r in report.rows if r.group == group and r.op.name == name)


def test_a_decode_step_reads_the_weights_of_the_experts_its_tokens_can_reach():
    # batch 1: its 8 experts, each 7168 × 2048, read once; 8 rows in, 8 rows out
    step = roofline_report(DS, mode=Mode("decode", position=10), workload=Workload(1, 10))
    gate = _row(step, "moe", "expert_gate_proj").op
    assert op_bytes(gate, 2) == 2 * (8 * 7168 + 8 * 7168 * 2048 + 8 * 2048)
    # batch 64: 512 rows, more than the 256 experts: every expert's weights, once each
    step = roofline_report(DS, mode=Mode("decode", position=10), workload=Workload(64, 10))
    gate = _row(step, "moe", "expert_gate_proj").op
    assert op_bytes(gate, 2) == 2 * (512 * 7168 + 256 * 7168 * 2048 + 512 * 2048)
    assert op_bytes(gate, 2, backward=True) == 2 * op_bytes(gate, 2)


def test_a_linear_weight_is_read_once_whatever_its_layout():
    # Llama's k_proj stores (1024, 4096) for x (L, 4096) @ W (4096, 1024): read once
    step = roofline_report(preset_architecture("llama-3.1-8b"), workload=Workload(1, 16))
    k_proj = _row(step, "block", "k_proj").op
    assert op_bytes(k_proj, 2) == 2 * (16 * 4096 + 4096 * 1024 + 16 * 1024)


def test_mixtral_saves_what_each_gradient_of_its_moe_layer_reads():
    L, D, F, H = 64, MX_D, MX_F, MX_H
    act = activation_report(MIXTRAL, "bf16", workload=Workload(1, L))
    # six (L, D) tensors (block input, its norm's output, q, A, the MLP norm's input and
    # output), K and V at 8 heads of 128, P, the router's probabilities (L, 8) and the routing
    # weights (L, 2), the 2L routed rows in and out (2L, D), and g, act(g), u, act(g)·u of the
    # 2L rows (2L, F)
    expected = (6 * L * D + 2 * L * 1024 + H * L * L + L * 8 + L * 2 + 2 * (2 * L * D)
                + 4 * (2 * L * F))
    assert act.group_elements("block") == expected
    tensors = {r.tensor: r.shape for r in act.rows}
    assert tensors["routed token rows (a token's row once per chosen expert)"] == (2 * L, D)
    assert tensors["routing weights w (top_k per token)"] == (1, L, 2)


def test_deepseek_saves_the_latents_and_whole_k_and_v_of_its_latent_attention():
    L = 16
    rows = {r.tensor: r.shape for r in activation_report(DS, workload=Workload(1, L)).rows
            if r.group == "moe"}
    assert rows["query latent c_q (q_a_proj output)"] == (1, L, 1536)
    assert rows["KV latent c_kv (kv_a_proj output)"] == (1, L, 512)
    assert rows["q"] == (1, 128, L, 192)
    assert rows["v"] == (1, 128, L, 128)           # not a view of fewer K/V heads
    assert rows["shared expert act(g) · u"] == (1, L, 2048)


def test_the_readme_example_runs_and_shows_the_latent_cache():
    out = ok("memory", "--preset", "deepseek-v3", "--mode", "decode", "--table", "summary",
             "-f", "markdown").stdout
    assert "| KV cache, 128 tokens |" in out
    assert f"{61 * 576 * 128:,} | {61 * 576 * 128 * 2:,}" in out
    assert "latent c_kv and the shared rotary key k_pe" in out
    assert f"{653_908_770_816:,}" in out and f"{14_848:,}" in out


# shapes ------------------------------------------------------------------------------------

def test_expert_weights_are_shown_with_their_leading_n_experts_and_the_tokens_each_sees():
    report = shape_report(MIXTRAL, workload=Workload(1, 100))
    gate = next(op for op in report.ops if op.name == "expert_gate_proj")
    assert gate.inputs[0] == (100 * 2, 4096)
    doc = shape_json(report)
    row = next(r for r in doc["rows"] if r["name"] == "expert_gate_proj")
    assert row["weight"] == [8, 4096, 14336]
    assert row["experts"] == {"top_k": 2, "n_experts": 8}
    assert doc["routed_experts"]["tokens_per_expert"] == "25"   # 100 · 2 / 8
    assert "sees T·top_k/n_experts = 25 tokens" in experts_note(report)
    # one decoded token to 8 of 256 experts: 1/32 of a token each, on average
    step = shape_report(DS, Mode("decode", position=7), Workload(1, 7))
    assert shape_json(step)["routed_experts"]["tokens_per_expert"] == "1/32"
    assert "1/32 (exactly" in experts_note(step)
    assert shape_json(shape_report(preset_architecture("llama-3.1-8b"))).get(
        "routed_experts") is None


def test_the_shapes_command_prints_expert_weights():
    out = ok("shapes", "--preset", "qwen1.5-moe-a2.7b", "--seq-len", "15", "-f",
             "markdown").stdout
    # 60 experts of 1408 on d_model 2048; 15 tokens × 4 = 60 rows: one token per expert
    assert "(60, 2048, 1408)" in out and "(60, 2048)" in out
    assert "sees T·top_k/n_experts = 1 tokens" in out


# compare -----------------------------------------------------------------------------------

def mixtral_forward_blocks(L: int) -> int:
    """Mixtral's blocks, one forward pass, matmuls, dense attention, 2 FLOPs per multiply-add:
    q and o 2·L·D², k and v 2·L·D·1024, QKᵀ and P·V 2·32·L²·128, the router 2·L·D·8 and the
    2L routed rows through gate, up and down, 3 · 2·(2L)·D·F; 32 layers."""
    D, F = MX_D, MX_F
    layer = (2 * 2 * L * D * D + 2 * 2 * L * D * 1024 + 2 * 2 * 32 * L * L * 128
             + 2 * L * D * 8 + 3 * 2 * (2 * L) * D * F)
    return 32 * layer


def test_compare_says_which_n_each_estimate_uses_and_its_error():
    L = 4096
    rows = {c.key: c for c in est.compare(MIXTRAL, Conventions(), Workload(1, L))}
    # N_total: all 46,702,792,704 less the token table and the untied head (32000 × 4096 each)
    n_total = 46_702_792_704 - 2 * 32000 * 4096
    # N_active: the 12,879,925,248 active less the same two tables
    n_active = 12_879_925_248 - 2 * 32000 * 4096
    assert est.kaplan_n(MIXTRAL) == n_total and est.kaplan_n_active(MIXTRAL) == n_active
    exact_train = 3 * mixtral_forward_blocks(L)
    assert rows["kaplan_6n"].name == "6·N_total"
    assert rows["kaplan_6n"].estimate == 6 * n_total * L
    assert rows["kaplan_6n_active"].estimate == 6 * n_active * L
    assert rows["kaplan_6n"].exact == rows["kaplan_6n_active"].exact == exact_train
    assert rows["kaplan_6n_active"].error == Fraction(6 * n_active * L - exact_train, exact_train)
    assert rows["kaplan_2n_active"].exact == mixtral_forward_blocks(L)
    assert "N = N_active" in rows["kaplan_6n_active"].ignores
    assert "N = N_total" in rows["kaplan_6n"].ignores
    assert "a mixture of experts" in rows["megatron_72"].ignores
    # PaLM's twin differs by the same experts a token does not use
    assert rows["palm"].estimate - rows["palm_active"].estimate == 6 * (n_total - n_active) * L
    dense = {c.key for c in est.compare(preset_architecture("llama-3.1-8b"))}
    assert "kaplan_6n_active" not in dense


# frameworks, mfu, budget ----------------------------------------------------------------

def test_frameworks_count_experts_as_their_formulas_do():
    L, T = 4096, 4096
    rows = {r.framework.key: r for r in fw.compare(MIXTRAL, workload=Workload(1, L))}
    experts_active = 32 * 3 * MX_D * 2 * MX_F      # a token's 2 experts, gate, up and down
    experts_all = 32 * 3 * MX_D * 8 * MX_F
    router = 32 * MX_D * 8
    exact = rows["torchtitan"].exact_terms
    assert exact[fw.MLP] == 6 * T * experts_active
    assert exact[fw.ROUTER] == 6 * T * router
    # torchtitan's MoE path and llm-foundry's MegaBlocks count take top_k of n_experts
    assert rows["torchtitan"].terms[fw.MLP] == rows["llm_foundry"].terms[fw.MLP] == \
        6 * T * experts_active
    assert rows["torchtitan"].function == "get_moe_model_nparams_and_flops"
    # nanoGPT's and Hugging Face's N count every expert
    assert rows["nanogpt"].terms[fw.MLP] == rows["huggingface"].terms[fw.MLP] == \
        6 * T * experts_all
    assert any("a mixture of experts" in g for g in rows["nanogpt"].gaps)
    # Megatron: active experts, no router; MaxText: the gate 2·T·d·E, 3 times
    assert rows["megatron"].terms[fw.MLP] == 6 * T * experts_active
    assert rows["megatron"].terms[fw.ROUTER] == 0
    assert rows["maxtext"].terms[fw.ROUTER] == 3 * 32 * 2 * T * MX_D * 8
    assert rows["maxtext"].terms[fw.MLP] == 6 * T * experts_active


def test_frameworks_count_latent_attention_as_their_formulas_do():
    T = 1024
    rows = {r.framework.key: r for r in fw.compare(DS, workload=Workload(1, T))}
    # per layer the MLA matmul weights: 187,107,328 less the two latent norms (1536 + 512)
    projections = 61 * (187_107_328 - 1536 - 512)
    for key in ("megatron", "maxtext", "torchtitan"):
        assert rows[key].terms[fw.PROJECTIONS] == 6 * T * projections
    assert rows["torchtitan"].exact_terms[fw.PROJECTIONS] == 6 * T * projections
    # Megatron counts the two latent norms as 6 FLOPs per token per weight
    assert rows["megatron"].terms[fw.VECTORS] == 6 * T * 61 * (1536 + 512)
    # torchtitan's dense attention term with head_dims = 128 + 64 + 128 is exact
    assert rows["torchtitan"].terms[fw.CORE] == rows["torchtitan"].exact_terms[fw.CORE] == \
        6 * 61 * 128 * (192 + 128) * T * T
    # DeepSeek's routed and shared experts, and its 3 dense layers of 18432
    mlp = 3 * 3 * DS_D * 18432 + 58 * 3 * DS_D * (8 * 2048 + 2048)
    assert rows["maxtext"].terms[fw.MLP] == rows["megatron"].terms[fw.MLP] == 6 * T * mlp
    assert any("latent attention" in g for g in rows["llm_foundry"].gaps)


def test_maxtext_says_it_does_not_model_qwen2_moe_shared_expert():
    rows = {r.framework.key: r for r in fw.compare(QWEN, workload=Workload(1, 256))}
    assert any("shared expert and its sigmoid gate" in g for g in rows["maxtext"].gaps)
    assert rows["megatron"].gaps == ()


def test_mfu_and_budget_run_on_moe_models():
    out = " ".join(ok("mfu", "--preset", "mixtral-8x7b", "--seq-len", "4096",
                      "--tokens-per-second", "1000", "-f", "markdown").stdout.split())
    assert "12,879,925,248 active of 46,702,792,704 parameters" in out
    out = " ".join(ok("budget", "--preset", "deepseek-v3", "--seq-len", "4096", "--tokens",
                      "1000000", "--new-tokens", "4", "--prompt", "16", "-f",
                      "markdown").stdout.split())
    assert "37,552,282,624 active parameters" in out


# sweep and plot ------------------------------------------------------------------------------

def mixtral_forward(L: int, E: int, k: int) -> int:
    """``mixtral_forward_blocks`` with E experts, k per token, and the untied LM head."""
    D, F = MX_D, MX_F
    layer = (2 * 2 * L * D * D + 2 * 2 * L * D * 1024 + 2 * 2 * 32 * L * L * 128
             + 2 * L * D * E + 3 * 2 * (k * L) * D * F)
    return 32 * layer + 2 * L * D * MX_V


@pytest.mark.parametrize("fast", [False, True])
def test_a_sweep_over_experts_and_top_k_matches_first_principles(fast):
    axes = [parse_axis("n_experts", "8,16,64"), parse_axis("top_k", "1,2,4")]
    result = run(preset_fields("mixtral-8x7b"), axes, Conventions(), Mode(), fast=fast)
    assert [(v, t) for v, _, t in result.rows] == [
        ((E, k), mixtral_forward(128, E, k)) for E in (8, 16, 64) for k in (1, 2, 4)]


@pytest.mark.parametrize("fast", [False, True])
def test_a_sweep_over_the_latent_rank_changes_only_the_latent_terms(fast):
    axes = [parse_axis("kv_lora_rank", "256,512,1024")]
    result = run(preset_fields("deepseek-v3"), axes, Conventions(), Mode(), fast=fast)
    totals = [t for _, _, t in result.rows]
    # kv_a (d → r + 64) and kv_b (r → 128·(128 + 128)) grow by 2·L·(7168 + 32768) per unit
    # of rank, on each of the 61 layers, at L = 128 tokens
    per_rank = 61 * 2 * 128 * (7168 + 128 * 256)
    assert totals[1] - totals[0] == 256 * per_rank
    assert totals[2] - totals[1] == 512 * per_rank


def test_sweep_refuses_top_k_above_n_experts_in_one_line():
    result = invoke("sweep", "--preset", "mixtral-8x7b", "--top-k", "2,16")
    assert result.exit_code == 2
    assert "top_k (16) must be at most n_experts (8)" in result.stderr


def test_the_attention_and_ffn_crossover_counts_the_experts_as_the_ffn():
    from flopcalc.plot import crossover
    # per layer: QKᵀ and P·V 2·2·32·L²·128 = 16384·L²; the FFN the router 2·L·4096·8 and the
    # 2L routed rows through gate, up and down 3·2·(2L)·4096·14336: equal at L = 43,012
    cross = crossover({}, "seq_len", Conventions(), Mode(), MIXTRAL, Workload(1, 128))
    assert cross.root == (2 * 4096 * 8 + 12 * 4096 * 14336) // (4 * 32 * 128) == 43012
    assert "expert_gate_proj" in cross.ffn_ops and "router" in cross.ffn_ops


def test_the_plot_s_experts_share_is_the_expert_ops_share_of_the_total():
    from flopcalc.plot import experts_shares
    result = run(preset_fields("mixtral-8x7b"), [parse_axis("seq_len", "128,4096")],
                 Conventions(), Mode())
    L = (128, 4096)
    assert experts_shares(result) == [
        Fraction(32 * 3 * 2 * (2 * n) * MX_D * MX_F, mixtral_forward(n, 8, 2)) for n in L]
    dense = run(preset_fields("llama-3.1-8b"), [parse_axis("seq_len", "128,256")],
                Conventions(), Mode())
    assert experts_shares(dense) is None


def test_memory_counts_the_decode_step_in_the_mla_form_asked_for():
    t = 4096
    for form, keys_width in (("naive", 128 + 64), ("absorbed", 512 + 64)):
        step = roofline_report(DS, Conventions(mla_decode=form), Mode("decode", position=t),
                               workload=Workload(1, t))
        scores = _row(step, "moe", "scores")
        # one query per head against t keys of the form's width: 2 · 128 · t · width
        assert scores.flops == 2 * 128 * t * keys_width
    out = ok("memory", "--preset", "deepseek-v3", "--mode", "decode", "--mla-decode",
             "absorbed", "-f", "json").stdout
    assert '"mla_decode": "absorbed"' in out


def test_the_absorbed_decode_step_reads_the_latent_once_for_all_heads():
    """The absorbed form's K is the cached [c_kv k_pe], one tensor of 512 + 64 per token
    broadcast over the 128 heads, and V its c_kv: each matmul reads it once. Every matmul of
    DeepSeek-V3's decode step at t = 4096 (batch 1, bf16, no bias anywhere), worked out
    from its sizes: a Linear of one token reads its input row and weight and writes its
    output row; a routed expert's Linear reads the weights of the 8 experts its 8 rows go to."""
    D, H, Rq, Rkv, Dn, Dr, Dv, V = 7168, 128, 1536, 512, 128, 64, 128, 129280
    F, E, k, Fe, Fs, t = 18432, 256, 8, 2048, 2048, 4096

    def lin(d_in, d_out, rows=1, weights=1):
        return rows * d_in + weights * d_in * d_out + rows * d_out

    scores = H * (Rkv + Dr) + (Rkv + Dr) * t + H * t   # q_lat·q_pe of each head, K once, S
    values = H * t + t * Rkv + H * Rkv                 # P, V = c_kv once, A
    attention = (lin(D, Rq) + lin(Rq, H * (Dn + Dr)) + lin(D, Rkv + Dr)
                 + H * Dn + H * Dn * Rkv + H * Rkv      # absorb_k: q_nope · W_UK per head
                 + scores + values
                 + H * Rkv + H * Rkv * Dv + H * Dv      # absorb_v: · W_UV per head
                 + lin(H * Dv, D))
    dense_mlp = 2 * lin(D, F) + lin(F, D)
    moe_mlp = (lin(D, E) + 2 * lin(D, Fe, k, k) + lin(Fe, D, k, k)
               + 2 * lin(D, Fs) + lin(Fs, D))
    embed = 2 * D                                      # one table row read, one written
    elements = 61 * attention + 3 * dense_mlp + 58 * moe_mlp + embed + lin(D, V)
    step = roofline_report(DS, Conventions(mla_decode="absorbed"), Mode("decode", position=t),
                           workload=Workload(1, t))
    assert step.bytes == 2 * elements == 73_996_339_328
    assert _row(step, "moe", "scores").bytes == 2 * scores == 5_914_624
    assert _row(step, "moe", "attn_values").bytes == 2 * values == 5_373_952
    # the naive form expands the latent to each head's K (128 + 64 wide): read per head
    naive = roofline_report(DS, Conventions(), Mode("decode", position=t), workload=Workload(1, t))
    assert _row(naive, "moe", "scores").bytes == 2 * (H * (Dn + Dr) * (1 + t) + H * t)


@pytest.mark.parametrize("fast", [False, True])
def test_a_sweep_at_a_capacity_factor_pads_each_expert_to_its_capacity(fast):
    from math import ceil
    conv = Conventions(capacity_factor=Fraction(5, 4))
    result = run(preset_fields("mixtral-8x7b"), [parse_axis("seq_len", "100,1000")], conv,
                 Mode(), fast=fast)
    for (L,), _, total in result.rows:
        rows = 8 * ceil(Fraction(5, 4) * L * 2 / 8)       # 8 experts of ceil(c·T·k/E) rows
        padded = 32 * 3 * 2 * (rows - 2 * L) * MX_D * MX_F  # gate, up, down on the padding
        assert total == mixtral_forward(L, 8, 2) + padded


@pytest.mark.parametrize("fast", [False, True])
def test_a_decode_sweep_in_the_absorbed_form_counts_the_latent_scores(fast):
    conv = Conventions(mla_decode="absorbed")
    result = run(preset_fields("deepseek-v3"), [parse_axis("position", "1000,2000")], conv,
                 Mode("decode"), fast=fast)
    (_, _, first), (_, _, second) = result.rows
    # 1000 more keys: QKᵀ over 512 + 64 and P·V over 512, 128 heads, 61 layers
    assert second - first == 61 * 2 * 128 * 1000 * (576 + 512)


def test_shapes_show_the_mla_decode_form_and_the_capacity_factor_rows():
    """shapes takes --mla-decode and --capacity-factor as flops does. DeepSeek-V3 absorbed:
    q_nope (1, 128, 1, 128) times W_UK, no kv_b_proj; Mixtral at 128 tokens, top_k 2 of 8,
    capacity 5/4: each expert ceil(1.25 · 256 / 8) = 40 rows, 8 · 40 = 320 in all."""
    def rows(*args):
        result = invoke("shapes", *args, "--format", "json")
        assert result.exit_code == 0, result.stderr
        return {r["name"]: r for r in json.loads(result.stdout)["rows"]}

    decode = ("--preset", "deepseek-v3", "--mode", "decode")
    absorbed = rows(*decode, "--mla-decode", "absorbed")
    assert "kv_b_proj" not in absorbed and absorbed["absorb_k"]["inputs"][0] == [1, 128, 1, 128]
    assert "absorb_k" not in rows(*decode) and "kv_b_proj" in rows(*decode)
    padded = rows("--preset", "mixtral-8x7b", "--capacity-factor", "5/4")
    assert padded["dispatch"]["output"] == [8 * 40, 4096]
    assert rows("--preset", "mixtral-8x7b")["dispatch"]["output"] == [128 * 2, 4096]
