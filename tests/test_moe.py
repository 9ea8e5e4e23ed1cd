"""Mixtures of experts and latent attention (issue 10): the released models' parameter counts
(total and active), the experts' FLOPs against first-principles arithmetic, the layer
patterns Hugging Face's configs describe, the capacity-factor convention, MLA's two decode
forms, and the same properties over random MoE and MLA models."""

from __future__ import annotations

from fractions import Fraction
from math import ceil, prod

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cli_helpers import invoke, one_line_error
from flopcalc.analysis import flop_report, param_report
from flopcalc.architecture import Architecture, ArchitectureError, Workload
from flopcalc.architectures import build, ops_of
from flopcalc.architectures.hf import architecture_fields
from flopcalc.architectures.presets import preset_architecture
from flopcalc.config import Conventions, Mode
from fuzz_helpers import examples

PROPERTY = settings(max_examples=examples(30), deadline=None)
MODES = ("forward", "backward", "train", "decode", "generate")
ELEMENTWISE = Conventions(elementwise=True)


# --- the released models ------------------------------------------------------------------

# (total, active per token): the issue's figures, from the checkpoints' tensors
PINNED = {"mixtral-8x7b": (46_702_792_704, 12_879_925_248),
          "qwen1.5-moe-a2.7b": (14_315_784_192, 2_689_173_504),
          "deepseek-v3": (671_026_404_352, 37_552_282_624)}


@pytest.mark.parametrize("name", PINNED)
def test_the_released_moe_models_have_their_pinned_parameter_counts(name):
    report = param_report(preset_architecture(name))
    assert (report.total, report.active) == PINNED[name]


def test_deepseek_v3_parameters_by_hand():
    D, V, F, E, k, d_e, h = 7168, 129280, 18432, 256, 8, 2048, 128
    q_rank, kv_rank, nope, rope, d_v = 1536, 512, 128, 64, 128
    mla = (D * q_rank                           # q_a_proj
           + q_rank                             # q_a_layernorm
           + q_rank * h * (nope + rope)         # q_b_proj
           + D * (kv_rank + rope)               # kv_a_proj_with_mqa
           + kv_rank                            # kv_a_layernorm
           + kv_rank * h * (nope + d_v)         # kv_b_proj
           + h * d_v * D)                       # o_proj
    assert mla == 11_010_048 + 1_536 + 37_748_736 + 4_128_768 + 512 + 16_777_216 + 117_440_512 \
        == 187_107_328
    norms = 2 * D
    dense_mlp = 3 * D * F
    routed = E * 3 * D * d_e
    moe_mlp = E * D + routed + 3 * D * d_e      # router, routed experts, one shared expert
    total = 2 * V * D + 3 * (mla + norms + dense_mlp) + 58 * (mla + norms + moe_mlp) + D
    assert total == 671_026_404_352
    active = total - 58 * routed * (E - k) // E
    assert active == 37_552_282_624
    report = param_report(preset_architecture("deepseek-v3"))
    assert (report.total, report.active) == (total, active)
    # the score-correction biases are stored, not counted: one (256,) tensor per MoE layer
    assert report.also_stored == 58 * 256 == 14_848
    assert report.total + report.also_stored == 671_026_419_200


def test_the_score_correction_biases_are_buffers_the_builder_emits_and_the_report_sums():
    """Each of DeepSeek-V3's 58 MoE layers stores mlp.gate.e_score_correction_bias, (256,):
    a tensor of the model as data, a buffer of its router op, outside the parameter count."""
    report = param_report(preset_architecture("deepseek-v3"))
    assert {(r.param.name, r.param.shape, r.group) for r in report.buffers} == \
        {("mlp.gate.e_score_correction_bias", (256,), "moe")}
    assert sum(r.times for r in report.buffers) == 61 - 3
    assert not any("e_score_correction_bias" in r.param.name for r in report.rows)
    assert report.total == 671_026_404_352 and report.also_stored == 14_848
    # a model without the correction bias stores no buffer
    assert param_report(preset_architecture("mixtral-8x7b")).buffers == ()


def test_the_params_command_shows_total_active_and_what_is_left_out():
    result = invoke("params", "--preset", "deepseek-v3")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "671,026,404,352" in out and "37,552,282,624" in out and "671,026,419,200" in out
    assert "e_score_correction_bias" in out and "multi-token-prediction" in out


# --- one expert is a dense MLP -------------------------------------------------------------

def _one_expert_and_dense(d_ff=10):
    sizes = dict(d_model=12, n_heads=4, n_kv_heads=2, d_head=4, rotary_dims=None, n_layers=2, vocab=17,
                 n_positions=64, d_ff=d_ff)
    moe = Architecture(**architecture_fields({"model_type": "mixtral"}, "test"))
    moe = moe.with_(**sizes, n_experts=1, top_k=1, d_expert=d_ff)
    dense = Architecture(**architecture_fields({"model_type": "mistral"}, "test"))
    dense = dense.with_(**sizes, sliding_window=None)
    return moe, dense


@pytest.mark.parametrize("kind", MODES)
@pytest.mark.parametrize("attention", ["dense", "causal"])
def test_one_expert_top_1_without_a_shared_expert_counts_as_a_dense_gated_mlp(kind, attention):
    moe, dense = _one_expert_and_dense()
    workload, T, D = Workload(2, 5), 2 * 5, 12
    conv = Conventions(attention=attention, elementwise=True)
    a = flop_report(moe, conv, Mode(kind), workload)
    b = flop_report(dense, conv, Mode(kind), workload)

    def by_role(report, prefix):
        return {r.op.role.split(".")[-1]: r.flops for r in report.rows
                if r.op.role.startswith(prefix) and r.op.role.count(".") == prefix.count(".")}
    assert by_role(a, "mlp.expert.") == {**by_role(b, "mlp."), "combine": by_role(a, "mlp.expert.")
                                         ["combine"]}
    # the rest is the router and the weighted add: (T, 1) scores, one choice of one
    if kind in ("forward", "backward", "train"):
        tokens = T
        fwd = 2 * tokens * D * 1 + tokens * 1 * (5 + 1 + 2) + tokens * D * 2
        bwd = 2 * 2 * tokens * D * 1 + tokens * 1 * (4 + 0 + 4) + tokens * D * 3
        extra = {"forward": fwd, "backward": bwd, "train": fwd + bwd}[kind]
        assert a.total - b.total == 2 * extra   # two layers


def test_one_expert_owns_a_dense_mlps_weights_plus_a_one_column_router():
    moe, dense = _one_expert_and_dense()
    assert param_report(moe).total == param_report(dense).total + 2 * 12 * 1
    assert param_report(moe).active == param_report(moe).total


# --- the experts' FLOPs --------------------------------------------------------------------

@pytest.mark.parametrize("name", PINNED)
def test_each_expert_matmul_is_two_flops_per_routed_row_and_expert_weight(name):
    arch = preset_architecture(name)
    B, L = 3, 7
    report = flop_report(arch, Conventions(), Mode(), Workload(B, L))
    rows = [r for r in report.rows if r.op.role in ("mlp.expert.gate", "mlp.expert.up",
                                                    "mlp.expert.down")]
    assert len(rows) == 3
    for r in rows:
        assert r.flops == 2 * B * L * arch.top_k * arch.d_model * arch.d_expert


def test_mixtral_forward_by_hand():
    D, F, E, k, H, Hkv, Dh, V, n, L = 4096, 14336, 8, 2, 32, 8, 128, 32000, 32, 128
    attention = 2 * L * D * (H * Dh + 2 * Hkv * Dh) + 2 * 2 * H * L * L * Dh + 2 * L * H * Dh * D
    experts = 3 * 2 * L * k * D * F
    router = 2 * L * D * E
    total = n * (attention + router + experts) + 2 * L * D * V
    assert flop_report(preset_architecture("mixtral-8x7b")).total == total
    result = invoke("flops", "--preset", "mixtral-8x7b", "--total")
    assert result.stdout.strip() == str(total)


def test_deepseek_v3_moe_layers_differ_from_its_dense_ones_by_the_experts_and_router():
    arch = preset_architecture("deepseek-v3")
    D, F, E, k, d_e, d_s = 7168, 18432, 256, 8, 2048, 2048
    B, L = 2, 16
    T = B * L
    report = flop_report(arch, Conventions(), Mode(), Workload(B, L))
    assert [(g.name, g.repeat) for g in report.block_groups] == [("dense", 3), ("moe", 58)]
    router = 2 * T * D * E
    routed = 3 * 2 * T * k * D * d_e
    shared = 3 * 2 * T * D * d_s
    dense_mlp = 3 * 2 * T * D * F
    assert report.group_total("moe") - report.group_total("dense") == \
        router + routed + shared - dense_mlp
    # and with the elementwise work: σ scores, the bias, the group-limited choice, the
    # renormalised and scaled weights, the weighted add and the shared add; the SwiGLU's
    # act and mul for the routed rows and the shared expert instead of the dense MLP's
    G = 8
    full = flop_report(arch, ELEMENTWISE, Mode(), Workload(B, L))
    choice = T * E * 4 + T * E * 1 + T * E * 1 + T * G * 1 + T * G * 1 + T * E * 1 + T * E * 1
    weights = T * k * 2 + T * k * 1
    swiglu = (T * k * d_e + T * d_s - T * F) * (4 + 1)
    adds = T * k * D * 2 + T * D
    assert full.group_total("moe") - full.group_total("dense") == \
        router + routed + shared - dense_mlp + choice + weights + swiglu + adds


# --- the layer patterns of the configs -----------------------------------------------------

def test_qwen2_moe_layers_follow_decoder_sparse_step_and_mlp_only_layers():
    data = {"model_type": "qwen2_moe", "num_hidden_layers": 8, "decoder_sparse_step": 2,
            "mlp_only_layers": [3]}
    arch = Architecture(**architecture_fields(data, "test"))
    # (i + 1) % 2 == 0: layers 1, 3, 5, 7; layer 3 is dense by name
    assert arch.moe_layers == (1, 5, 7)
    groups = build(arch, arch.dims(1, 4))
    assert [(g.name, g.repeat) for g in groups[1:-1]] == [("dense", 5), ("moe", 3)]


def test_deepseek_v3_first_layers_are_dense():
    arch = Architecture(**architecture_fields({"model_type": "deepseek_v3",
                                               "num_hidden_layers": 6,
                                               "first_k_dense_replace": 2}, "test"))
    assert arch.moe_layers == (2, 3, 4, 5)
    every = Architecture(**architecture_fields({"model_type": "deepseek_v3",
                                                "first_k_dense_replace": 0}, "test"))
    assert every.moe_layers is None and every.n_moe == 61


def test_hugging_faces_defaults_for_the_moe_families():
    mixtral = Architecture(**architecture_fields({"model_type": "mixtral"}, "test"))
    assert (mixtral.n_experts, mixtral.top_k, mixtral.d_expert, mixtral.d_shared,
            mixtral.n_kv_heads, mixtral.sliding_window) == (8, 2, 14336, None, 8, None)
    qwen = Architecture(**architecture_fields({"model_type": "qwen2_moe"}, "test"))
    assert (qwen.n_experts, qwen.top_k, qwen.d_expert, qwen.d_shared, qwen.shared_gate,
            qwen.norm_topk_prob, qwen.qkv_bias) == (60, 4, 1408, 5632, True, False, True)
    deepseek = Architecture(**architecture_fields({"model_type": "deepseek_v3"}, "test"))
    assert (deepseek.n_experts, deepseek.top_k, deepseek.d_expert, deepseek.d_shared,
            deepseek.kv_lora_rank, deepseek.q_lora_rank, deepseek.d_head,
            deepseek.router_scoring, deepseek.n_groups, deepseek.topk_groups,
            deepseek.routed_scale) == (256, 8, 2048, 2048, 512, 1536, 192, "sigmoid", 8, 4, 2.5)
    plain_q = Architecture(**architecture_fields({"model_type": "deepseek_v3",
                                                  "q_lora_rank": None}, "test"))
    roles = {op.role for op in ops_of(build(plain_q, plain_q.dims()))}
    assert "attention.q" in roles and "attention.q_a" not in roles


@pytest.mark.parametrize("data, message", [
    ({"model_type": "deepseek_v3", "topk_method": "greedy"}, "topk_method 'greedy' is not modelled"),
    ({"model_type": "deepseek_v3", "scoring_func": "softmax"}, "scoring_func 'softmax' is not"),
    ({"model_type": "mixtral", "kv_lora_rank": 512}, "kv_lora_rank is not modelled"),
    ({"model_type": "qwen2_moe", "n_shared_experts": 2}, "n_shared_experts is not modelled"),
    ({"model_type": "mixtral", "num_experts_per_tok": 9}, "num_experts_per_tok"),
    ({"model_type": "qwen2_moe", "mlp_only_layers": [99]}, "mlp_only_layers must list"),
    ({"model_type": "mixtral", "router_jitter_noise": 0.1}, "router_jitter_noise 0.1 is not modelled"),
])
def test_what_the_moe_readers_do_not_model_is_refused_by_name(data, message):
    with pytest.raises(ArchitectureError, match=message):
        architecture_fields(data, "test")


def test_a_model_without_experts_refuses_expert_sizes_in_one_line():
    assert "no experts" in one_line_error(invoke("flops", "--family", "llama", "--n-experts", "4"))
    assert "top_k" in one_line_error(invoke("flops", "--preset", "mixtral-8x7b", "--top-k", "9"))
    assert "latent" in one_line_error(invoke("flops", "--kv-lora-rank", "8"))


def test_expert_flags_change_the_model():
    result = invoke("params", "--preset", "mixtral-8x7b", "--n-experts", "4", "--top-k", "1",
                    "--n-layers", "2", "-f", "json")
    import json
    doc = json.loads(result.stdout)
    D, F, V = 4096, 14336, 32000
    layer = 2 * D * D + 2 * D * 1024 + 2 * D + 4 * D + 4 * 3 * D * F
    assert doc["totals"]["total"] == 2 * V * D + 2 * layer + D
    assert doc["totals"]["active"] == doc["totals"]["total"] - 2 * 3 * 3 * D * F


# --- capacity factor -----------------------------------------------------------------------

def test_a_capacity_factor_pads_every_expert_to_its_capacity_and_says_so():
    arch = preset_architecture("qwen1.5-moe-a2.7b")
    B, L, E, k, D, d_e = 1, 100, 60, 4, 2048, 1408
    conv = Conventions(capacity_factor=Fraction(5, 4))
    report = flop_report(arch, conv, Mode(), Workload(B, L))
    capacity = ceil(Fraction(5, 4) * B * L * k / E)       # 9 rows per expert
    assert capacity == 9
    up = next(r for r in report.rows if r.op.role == "mlp.expert.up")
    assert up.flops == 2 * E * capacity * D * d_e
    assert "capacity factor 5/4" in conv.describe(arch)
    assert "capacity" not in Conventions().describe(arch)
    result = invoke("flops", "--preset", "qwen1.5-moe-a2.7b", "--capacity-factor", "1.25",
                    "--seq-len", "100", "-f", "json")
    import json
    assert json.loads(result.stdout)["conventions"]["capacity_factor"] == "5/4"
    assert "--capacity-factor" in one_line_error(invoke("flops", "--capacity-factor", "0"))


# --- latent attention: the two decode forms ------------------------------------------------

def _small_mla(**changes):
    base = Architecture(**architecture_fields({"model_type": "deepseek_v3"}, "test"))
    sizes = dict(d_model=16, n_heads=3, n_layers=2, vocab=19, d_ff=8, d_head=None,
                 n_kv_heads=None, rotary_dims=None, q_lora_rank=6, kv_lora_rank=5,
                 qk_nope_head_dim=4, qk_rope_head_dim=2, v_head_dim=3, n_experts=4, top_k=2,
                 d_expert=6, d_shared=6, n_groups=2, topk_groups=1, moe_layers=(1,))
    return base.with_(**{**sizes, **changes})


@pytest.mark.parametrize("form", ["naive", "absorbed"])
def test_an_mla_decode_step_by_hand(form):
    arch = _small_mla()
    D, H, Rq, Rkv, Dn, Dr, Dv, B, t = 16, 3, 6, 5, 4, 2, 3, 2, 9
    report = flop_report(arch, Conventions(mla_decode=form), Mode("decode", position=t),
                         Workload(B, t))
    attention = {r.op.name: r.flops for r in report.rows if r.group == "dense"
                 and r.op.role.startswith("attention")}
    common = {"q_a_proj": 2 * B * D * Rq, "q_b_proj": 2 * B * Rq * H * (Dn + Dr),
              "kv_a_proj": 2 * B * D * (Rkv + Dr), "o_proj": 2 * B * H * Dv * D}
    if form == "naive":   # the whole cached latent through kv_b_proj, then plain attention
        expected = {**common, "kv_b_proj": 2 * B * t * Rkv * H * (Dn + Dv),
                    "scores": 2 * B * H * t * (Dn + Dr), "attn_values": 2 * B * H * t * Dv}
    else:                 # q_nope·W_UK, attention over the latent, then ·W_UV
        expected = {**common, "absorb_k": 2 * B * H * Dn * Rkv,
                    "scores": 2 * B * H * t * (Rkv + Dr), "attn_values": 2 * B * H * t * Rkv,
                    "absorb_v": 2 * B * H * Rkv * Dv}
    assert attention == expected
    assert f"MLA decode steps {form}" in report.conventions.describe(arch)


def test_prefill_is_naive_in_either_form_and_parameters_do_not_change():
    arch = _small_mla()
    for kind in ("forward", "train"):
        naive = flop_report(arch, Conventions(), Mode(kind), Workload(2, 6))
        absorbed = flop_report(arch, Conventions(mla_decode="absorbed"), Mode(kind), Workload(2, 6))
        assert naive.total == absorbed.total
    report = param_report(arch)
    D, H, Rq, Rkv, Dn, Dr, Dv = 16, 3, 6, 5, 4, 2, 3
    mla = D * Rq + Rq + Rq * H * (Dn + Dr) + D * (Rkv + Dr) + Rkv + Rkv * H * (Dn + Dv) + H * Dv * D
    assert sum(r.param.count for r in report.rows if r.group == "dense"
               and r.role.startswith("attention")) == mla


def test_an_absorbed_generation_by_hand():
    """A prompt of 5 tokens, then 4 new ones: the prefill (naive latent attention over the
    5×5 scores, logits for every prompt token) yields the first; decode steps at t = 6, 7, 8
    yield the others, each absorbed: q_nope·W_UK, scores and P·V over the latent of t keys,
    then ·W_UV. Layer 0 is a dense MLP of d_ff 8, layer 1 the MoE: router to 4 experts,
    each token's 2 routed rows through a gated expert of 6, a shared expert of 6; untied LM
    head of vocab 19. Matmuls only, 2 FLOPs per multiply-add."""
    arch = _small_mla()
    D, H, Rq, Rkv, Dn, Dr, Dv, F, V = 16, 3, 6, 5, 4, 2, 3, 8, 19
    E, k, De, Ds = 4, 2, 6, 6
    p, n = 5, 4

    def linears(T):  # the Linears of T tokens: both layers' attention and MLPs, the head
        attention = D * Rq + Rq * H * (Dn + Dr) + D * (Rkv + Dr) + H * Dv * D
        mlps = 3 * D * F + D * E + 3 * k * D * De + 3 * D * Ds
        return T * (2 * attention + mlps + D * V)

    prefill = linears(p) + 2 * (p * Rkv * H * (Dn + Dv)               # kv_b_proj on 5 tokens
                                + H * p * p * (Dn + Dr) + H * p * p * Dv)  # scores, P·V

    def step(t):
        return linears(1) + 2 * (H * Dn * Rkv + H * t * (Rkv + Dr) + H * t * Rkv + H * Rkv * Dv)

    whole = flop_report(arch, Conventions(mla_decode="absorbed"),
                        Mode("generate", prompt=p, new_tokens=n), Workload(1, p)).total
    assert whole == 2 * (prefill + step(6) + step(7) + step(8))


# --- formulas ------------------------------------------------------------------------------

@pytest.mark.parametrize("changes, conv, kind", [
    ({}, Conventions(elementwise=True), "forward"),
    ({}, Conventions(mla_decode="absorbed", attention="causal"), "decode"),
    ({}, Conventions(elementwise=True), "generate"),
    ({"q_lora_rank": None}, Conventions(capacity_factor=Fraction(3, 2)), "train"),
])
def test_symbolic_formulas_with_ints_substituted_equal_the_numeric_path(changes, conv, kind):
    from flopcalc import formulas as fm
    arch = _small_mla(**changes)
    f = fm.formulas(conv, mode=fm.symbolic_mode(kind), architecture=arch)
    for B, L, t in ((1, 3, 4), (2, 7, 9)):
        workload = Workload(B, L)
        values = f.evaluate(fm.symbol_values(arch, workload), position=t, prompt=L, new_tokens=3)
        mode = {"decode": Mode("decode", position=t),
                "generate": Mode("generate", prompt=L, new_tokens=3)}.get(kind, Mode(kind))
        assert values["total"] == flop_report(arch, conv, mode, workload).total


def test_the_formulas_command_works_for_the_moe_presets():
    for name in PINNED:
        result = invoke("formulas", "--preset", name)
        assert result.exit_code == 0, result.stderr
    assert "d_e" in invoke("formulas", "--preset", "mixtral-8x7b").stdout
    assert "r_kv" in invoke("formulas", "--preset", "deepseek-v3").stdout


# --- properties over random MoE and MLA models ---------------------------------------------

@st.composite
def moe_architectures(draw):
    family = draw(st.sampled_from(["mixtral", "qwen2_moe", "deepseek_v3"]))
    fields = architecture_fields({"model_type": family}, "test")
    n_layers = draw(st.integers(1, 4))
    E = draw(st.integers(1, 8))
    groups = draw(st.sampled_from([g for g in (1, 2, 4) if E % g == 0]))
    fields.update(d_model=draw(st.integers(2, 16)), n_heads=2, n_layers=n_layers, vocab=13,
                  d_ff=draw(st.integers(4, 12)), n_positions=64, n_experts=E,
                  top_k=draw(st.integers(1, E)), d_expert=draw(st.integers(1, 9)),
                  moe_layers=draw(st.none() | st.sets(st.integers(0, n_layers - 1),
                                                      min_size=1).map(tuple)))
    if fields.get("d_shared") is not None:
        fields["d_shared"] = draw(st.none() | st.integers(1, 9))
        fields["shared_gate"] = fields.get("shared_gate", False) and fields["d_shared"] is not None
    if family == "deepseek_v3":
        fields.update(n_groups=groups, topk_groups=groups, q_lora_rank=draw(st.none() | st.integers(1, 6)),
                      kv_lora_rank=draw(st.integers(1, 6)), qk_nope_head_dim=draw(st.integers(1, 4)),
                      qk_rope_head_dim=2, v_head_dim=draw(st.integers(1, 4)))
    else:
        fields.update(n_kv_heads=draw(st.sampled_from([1, 2])), d_head=draw(st.integers(1, 4)) * 2,
                      sliding_window=None, window_layers=None)
    return Architecture(**fields)


@PROPERTY
@given(moe_architectures())
def test_active_parameters_are_at_most_the_total_and_equal_it_when_every_expert_is_used(arch):
    report = param_report(arch)
    assert report.active <= report.total
    every = param_report(arch.with_(top_k=arch.n_experts, n_groups=None, topk_groups=None))
    assert every.active == every.total
    one = param_report(arch)
    routed = sum(r.param.count * r.times for r in one.rows if r.experts)
    assert one.total - one.active == routed * (arch.n_experts - arch.top_k) // arch.n_experts


@PROPERTY
@given(moe_architectures(), st.integers(1, 3), st.integers(1, 9), st.sampled_from(MODES),
       st.booleans(), st.sampled_from(["naive", "absorbed"]))
def test_each_total_is_the_sum_of_its_layer_groups_and_the_layers_their_kinds(
        arch, batch, seq_len, kind, elementwise, form):
    conv = Conventions(elementwise=elementwise, mla_decode=form)
    report = flop_report(arch, conv, Mode(kind), Workload(batch, seq_len))
    assert sum(g.repeat for g in report.block_groups) == arch.n_layers
    assert sum(g.repeat for g in report.block_groups if g.name != "dense") == arch.n_moe
    assert report.total == sum(g.repeat * report.group_total(g.name) for g in report.groups)


@PROPERTY
@given(moe_architectures(), st.integers(1, 3), st.integers(1, 9), st.integers(1, 3),
       st.integers(1, 9))
def test_parameters_depend_on_neither_seq_len_nor_batch(arch, b1, l1, b2, l2):
    def tensors(b, l):
        return [(g.repeat, op.name, p) for g in build(arch, arch.dims(b, l)) for op in g.ops
                for p in op.params]
    assert tensors(b1, l1) == tensors(b2, l2)
    assert sum(r * p.count for r, _, p in tensors(b1, l1)) == param_report(arch).total
    # the stored buffers (the router's score-correction bias) are reported apart
    buffers = [(g.repeat, p) for g in build(arch, arch.dims(b1, l1)) for op in g.ops
               for p in op.buffers]
    assert sum(r * p.count for r, p in buffers) == param_report(arch).also_stored


@PROPERTY
@given(moe_architectures(), st.integers(1, 3), st.integers(1, 9))
def test_routed_rows_are_tokens_times_top_k(arch, batch, seq_len):
    for op in ops_of(build(arch, arch.dims(batch, seq_len))):
        if op.experts is not None:       # every op on the routed rows
            assert op.role.startswith("mlp.expert.")
            assert op.inputs[0][0] == batch * seq_len * arch.top_k
            if op.params:                # the experts' Linears: all n_experts weights
                assert prod(op.params[0].shape) == arch.n_experts * prod(op.weight)
        elif op.role.startswith("mlp.expert."):
            assert op.role == "mlp.expert.dispatch"   # the view from tokens to routed rows


def test_the_decode_form_is_a_flag_and_stated_under_the_table():
    naive = invoke("flops", "--preset", "deepseek-v3", "--mode", "decode", "--position", "4096",
                   "-f", "json")
    absorbed = invoke("flops", "--preset", "deepseek-v3", "--mode", "decode", "--position",
                      "4096", "--mla-decode", "absorbed", "-f", "json")
    import json
    a, b = json.loads(naive.stdout), json.loads(absorbed.stdout)
    assert "naive" in a["conventions"]["description"]
    assert b["conventions"]["mla_decode"] == "absorbed" and "absorbed" in b["conventions"]["description"]
    assert b["totals"]["total"] < a["totals"]["total"]
    assert "mla_decode" not in a["conventions"]
    # a model without latent attention says nothing of it
    assert "MLA" not in json.loads(invoke("flops", "--mode", "decode", "-f", "json").stdout)[
        "conventions"]["description"]


@pytest.mark.parametrize("value", ["1e999999", "1e-999999", "abc", "-1"])
def test_a_capacity_factor_out_of_range_or_not_a_number_is_one_line(value):
    """An exponent is compared, never expanded: 1e999999 is refused at once."""
    assert "--capacity-factor" in one_line_error(invoke("flops", "--capacity-factor", value))
