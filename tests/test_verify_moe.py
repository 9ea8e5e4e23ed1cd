"""verify for the mixture-of-experts and latent-attention families: the routed reference pass
against the analytical model, per layer group and role.

Specification: the routed experts' measured FLOPs, summed over the experts that got tokens,
equal the analytical count exactly (tokens × top_k × one expert), whatever the routing; their
shapes are compared as total rows. Latent attention passes in both decode forms. The figures
pinned here are first-principles arithmetic, not the code's.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli_helpers import invoke
from flopcalc.architecture import Workload
from flopcalc.architectures.presets import make_architecture
from flopcalc.config import FlopcalcError
from flopcalc.verify import verify
from fuzz_helpers import examples

B, L = 2, 6
D, H, F, V = 32, 4, 48, 50
# latent attention shrunk: q_lora_rank 12, kv_lora_rank 10, heads of 6 + 4 (q/k) and 5 (v)
MLA = dict(q_lora_rank=12, kv_lora_rank=10, qk_nope_head_dim=6, qk_rope_head_dim=4,
           v_head_dim=5)
SIZES = dict(d_model=D, n_heads=H, d_ff=F, vocab=V, n_positions=64, d_head=None,
             n_kv_heads=None, rotary_dims=None)


def mixtral_tiny(**changes):
    return make_architecture("mixtral-8x7b").with_(
        **{**SIZES, "n_layers": 2, "n_kv_heads": 2, "n_experts": 4, "top_k": 2,
           "d_expert": 24, **changes})


def qwen_tiny(**changes):
    # Qwen2-MoE's sigmoid-gated shared expert; layer 0 dense (mlp_only_layers = [0])
    return make_architecture("qwen1.5-moe-a2.7b").with_(
        **{**SIZES, "n_layers": 2, "n_experts": 6, "top_k": 2, "d_expert": 12,
           "d_shared": 20, "moe_layers": (1,), **changes})


def deepseek_tiny(**changes):
    # DeepSeek-V3's first_k_dense_replace, shrunk to 1: layer 0 dense, layers 1 and 2 MoE;
    # 8 experts in 4 groups, 2 groups eligible, top 2, one shared expert
    return make_architecture("deepseek-v3").with_(
        **{**SIZES, **MLA, "n_layers": 3, "n_experts": 8, "top_k": 2, "d_expert": 16,
           "d_shared": 16, "n_groups": 4, "topk_groups": 2, "moe_layers": (1, 2), **changes})


FORMS = [("full", "naive"), ("incremental", "naive"), ("incremental", "absorbed")]


def failing(result):
    return [(r.layer, r.role, r.mismatches) for r in result.rows if not r.ok]


@pytest.mark.parametrize("mode, form", FORMS)
@pytest.mark.parametrize("tiny", [mixtral_tiny, qwen_tiny, deepseek_tiny])
def test_each_moe_family_shrunk_passes_every_row(tiny, mode, form):
    result = verify(tiny(), mode, workload=Workload(B, L), mla_decode=form)
    assert result.ok, failing(result)
    roles = [(r.layer, r.role) for r in result.rows]
    assert len(roles) == len(set(roles))  # one row per role and layer: experts summed


@pytest.mark.parametrize("mode", ["full", "incremental"])
def test_routed_experts_sum_to_tokens_times_top_k_of_one_expert(mode):
    k, de = 2, 16
    result = verify(deepseek_tiny(), mode, workload=Workload(B, L))
    experts = [r for r in result.rows if r.role.startswith("mlp.expert.")]
    assert {(r.layer, r.role) for r in experts} == {
        (layer, f"mlp.expert.{part}") for layer in (1, 2) for part in ("gate", "up", "down")}
    rows = B * L * k if mode == "full" else B * k  # the whole pass, or the last token
    for r in experts:
        # every token's k picks, whichever experts they went to: 2·B·L·k·d_model·d_expert
        assert r.analytical_flops == r.measured_flops == 2 * B * L * k * D * de
        d_in, d_out = (de, D) if r.role == "mlp.expert.down" else (D, de)
        assert r.measured_shape == r.analytical_shape == (rows, d_out)
        assert r.measured_operands == ((rows, d_in), (d_in, d_out))


@pytest.mark.parametrize("mode", ["full", "incremental"])
@pytest.mark.parametrize("tiny", [mixtral_tiny, qwen_tiny, deepseek_tiny])
def test_a_capacity_factor_runs_every_expert_on_its_buffer_and_verify_checks_it(tiny, mode):
    """At capacity factor 5/4 every expert runs ceil(5/4 · T · top_k / E) rows, padded with
    zero rows or dropping what is over: Mixtral's 4 experts (top 2) on B·L = 12 tokens take
    ceil(7.5) = 8 rows each, 32 in all, against 24 routed rows; an incremental pass's
    one-token steps (B = 2 tokens) take ceil(1.25) = 2 each, 8 in all. Measured from the
    buffers the pass multiplies, every row agrees."""
    from fractions import Fraction
    from math import ceil

    c = Fraction(5, 4)
    arch = tiny()
    E, k, de = arch.n_experts, arch.top_k, arch.d_expert
    result = verify(arch, mode, workload=Workload(B, L), capacity_factor=c)
    assert result.ok, failing(result)
    tokens = B * L if mode == "full" else B      # one pass, or each step's
    rows = E * ceil(c * tokens * k / E)
    steps = 1 if mode == "full" else L
    up = [r for r in result.rows if r.role == "mlp.expert.up"]
    assert up and all(r.measured_shape == (rows, de) for r in up)
    assert all(r.measured_flops == 2 * steps * rows * D * de for r in up)
    if tiny is mixtral_tiny:
        assert rows == (32 if mode == "full" else 8)


def test_the_count_stays_whatever_the_routing():
    # other seeds: other weights and tokens, so other routings; the same exact counts
    totals = set()
    for seed in range(4):
        result = verify(qwen_tiny(), "full", seed=seed, workload=Workload(B, L))
        assert result.ok, failing(result)
        totals.add(result.total("measured_flops"))
    assert len(totals) == 1


def test_deepseek_dense_and_moe_layers_are_their_own_groups():
    result = verify(deepseek_tiny(), "full", workload=Workload(B, L))
    groups = {r.layer: r.group for r in result.rows if r.layer is not None}
    assert groups == {0: "dense", 1: "moe", 2: "moe"}
    dense = {r.role for r in result.rows if r.layer == 0}
    moe = {r.role for r in result.rows if r.layer == 1}
    assert {"mlp.gate", "mlp.up", "mlp.down"} <= dense and not dense & {"mlp.router"}
    # the MoE layer differs by exactly the router, the routed and the shared experts
    assert moe - dense == {"mlp.router", "mlp.expert.gate", "mlp.expert.up", "mlp.expert.down",
                           "mlp.shared.gate", "mlp.shared.up", "mlp.shared.down"}
    assert dense - moe == {"mlp.gate", "mlp.up", "mlp.down"}


def test_qwen_shared_expert_gate_is_a_d_model_to_1_matmul():
    result = verify(qwen_tiny(), "full", workload=Workload(B, L))
    gate = next(r for r in result.rows if r.role == "mlp.shared.router")
    assert gate.layer == 1 and gate.measured_flops == 2 * B * L * D * 1
    assert gate.measured_operands == ((B, L, D), (D, 1))


def test_mla_decode_forms_count_their_own_matmuls():
    r, dn, dr, dv = 10, 6, 4, 5
    steps = sum(range(1, L + 1))  # step t attends to t cached latents
    naive = verify(deepseek_tiny(), "incremental", workload=Workload(B, L))
    absorbed = verify(deepseek_tiny(), "incremental", workload=Workload(B, L),
                      mla_decode="absorbed")
    assert naive.ok and absorbed.ok, (failing(naive), failing(absorbed))

    def flops(result, role):
        return next(x.measured_flops for x in result.rows if x.layer == 0 and x.role == role)

    # naive: every step expands all its cached latents through kv_b_proj
    assert flops(naive, "attention.kv_b") == 2 * B * steps * r * H * (dn + dv)
    assert flops(naive, "attention.scores") == 2 * B * H * steps * (dn + dr)
    assert flops(naive, "attention.values") == 2 * B * H * steps * dv
    # absorbed: kv_b_proj only on the first token (a one-token prefill, naive); then per
    # step q_nope · W_UK and (P · c_kv) · W_UV, scores over kv_lora_rank + d_rope
    assert flops(absorbed, "attention.kv_b") == 2 * B * 1 * r * H * (dn + dv)
    assert flops(absorbed, "attention.absorb_k") == 2 * B * (L - 1) * H * dn * r
    assert flops(absorbed, "attention.absorb_v") == 2 * B * (L - 1) * H * r * dv
    assert flops(absorbed, "attention.scores") == 2 * B * H * ((dn + dr) + (steps - 1) * (r + dr))
    assert flops(absorbed, "attention.values") == 2 * B * H * (dv + (steps - 1) * r)
    # the projections into and out of the latent are the same in both forms
    for role in ("attention.q_a", "attention.q_b", "attention.kv_a", "attention.o"):
        assert flops(naive, role) == flops(absorbed, role)


def test_absorbed_decode_is_refused_for_a_full_pass():
    with pytest.raises(FlopcalcError, match="incremental"):
        verify(deepseek_tiny(), "full", workload=Workload(B, L), mla_decode="absorbed")


def test_verify_command_takes_the_mla_decode_form():
    # four layers: DeepSeek-V3's first three are dense (first_k_dense_replace), the 4th MoE
    shrink = ["--n-layers", "4", "--d-model", "32", "--n-heads", "4", "--d-ff", "48",
              "--vocab", "50", "--n-experts", "8", "--top-k", "2", "--d-expert", "16",
              "--d-shared", "16", "--q-lora-rank", "12", "--kv-lora-rank", "10",
              "--qk-nope-head-dim", "6", "--qk-rope-head-dim", "4", "--v-head-dim", "5",
              "--seq-len", "4"]
    result = invoke("verify", "--preset", "deepseek-v3", *shrink, "--mode", "incremental",
                    "--mla-decode", "absorbed")
    assert result.exit_code == 0, result.stderr
    assert "absorbed" in result.stdout and "✗" not in result.stdout
    assert "expert_gate_proj" in result.stdout and "absorb_k" in result.stdout
    refused = invoke("verify", "--preset", "deepseek-v3", *shrink, "--mla-decode", "absorbed")
    assert refused.exit_code == 2 and "incremental" in refused.stderr
    assert "Traceback" not in refused.stderr


# ----------------------------------------------------------------------------- random configs

@st.composite
def tiny_moe_models(draw):
    family = draw(st.sampled_from(("mixtral", "qwen2_moe", "deepseek_v3")))
    n_layers = draw(st.integers(1, 3))
    groups, group_size = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    n_experts = groups * group_size
    changes = dict(SIZES, n_layers=n_layers, n_experts=n_experts,
                   top_k=draw(st.integers(1, n_experts)), d_expert=draw(st.integers(1, 12)),
                   d_ff=draw(st.sampled_from((8, 20))),
                   moe_layers=tuple(draw(st.sets(st.integers(0, n_layers - 1), min_size=1))),
                   n_heads=draw(st.sampled_from((1, 2, 4))))
    if family == "mixtral":
        base = make_architecture("mixtral-8x7b")
        changes["n_kv_heads"] = draw(st.sampled_from((1, changes["n_heads"])))
    elif family == "qwen2_moe":
        base = make_architecture("qwen1.5-moe-a2.7b")
        shared = draw(st.one_of(st.none(), st.integers(1, 9)))
        changes.update(d_shared=shared, shared_gate=shared is not None and draw(st.booleans()),
                       norm_topk_prob=draw(st.booleans()))
    else:
        base = make_architecture("deepseek-v3")
        changes.update(
            q_lora_rank=draw(st.one_of(st.none(), st.integers(1, 9))),
            kv_lora_rank=draw(st.integers(1, 9)), qk_nope_head_dim=draw(st.integers(1, 5)),
            qk_rope_head_dim=2 * draw(st.integers(1, 3)), v_head_dim=draw(st.integers(1, 5)),
            d_shared=draw(st.one_of(st.none(), st.integers(1, 9))),
            router_scoring=draw(st.sampled_from(("softmax", "sigmoid"))),
            n_groups=groups, topk_groups=draw(st.integers(1, groups)))
        changes["top_k"] = min(changes["top_k"], changes["topk_groups"] * group_size)
    load = Workload(draw(st.integers(1, 2)), draw(st.integers(1, 6)))
    return base.with_(**changes), load


@settings(max_examples=examples(20), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tiny_moe_models(), st.sampled_from(FORMS))
def test_random_moe_and_mla_models_agree_row_by_row(model, form):
    arch, load = model
    mode, decode = form
    result = verify(arch, mode, workload=load, mla_decode=decode)
    assert result.ok, failing(result)
    assert {r.layer for r in result.rows} == set(range(arch.n_layers)) | {None}


def test_the_reference_config_carries_every_expert_and_latent_field():
    from flopcalc.reference import GPTConfig

    ds = GPTConfig.from_architecture(make_architecture("deepseek-v3"))
    assert (ds.n_experts, ds.top_k, ds.d_expert, ds.d_shared) == (256, 8, 2048, 2048)
    assert (ds.router_scoring, ds.routed_scale, ds.router_bias) == ("sigmoid", 2.5, True)
    assert (ds.n_groups, ds.topk_groups, ds.norm_topk_prob) == (8, 4, True)
    assert ds.moe_layers == tuple(range(3, 61))  # first_k_dense_replace = 3
    assert (ds.q_lora_rank, ds.kv_lora_rank, ds.qk_nope_head_dim, ds.qk_rope_head_dim,
            ds.v_head_dim, ds.d_head) == (1536, 512, 128, 64, 128, 192)
    qwen = GPTConfig.from_architecture(make_architecture("qwen1.5-moe-a2.7b"))
    assert (qwen.n_experts, qwen.top_k, qwen.d_expert, qwen.d_shared) == (60, 4, 1408, 5632)
    assert qwen.shared_gate and not qwen.norm_topk_prob and not qwen.latent
    mixtral = GPTConfig.from_architecture(make_architecture("mixtral-8x7b"))
    assert (mixtral.n_experts, mixtral.top_k, mixtral.d_expert, mixtral.d_shared) == (
        8, 2, 14336, None)


def test_a_capacity_factor_too_large_for_memory_is_refused_in_one_line():
    """Each expert's buffer of ceil(c · T · top_k / E) rows counts in the memory check: at
    c = 10^7 and 8 tokens, 2 of 8 experts, that is 2·10^7 rows, gigabytes before any work."""
    result = invoke("verify", "--preset", "mixtral-8x7b", "--n-layers", "1", "--d-model", "64",
                    "--n-heads", "4", "--n-kv-heads", "2", "--d-ff", "128", "--vocab", "128",
                    "--seq-len", "8", "--capacity-factor", "10000000")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "GiB of memory" in result.stderr
