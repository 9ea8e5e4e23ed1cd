"""verify for every architecture: the reference pass of each family, matmul by matmul, against
the analytical model, matched per layer (its layer group) and per role.

Specification: for any small model of any family, ``verify`` passes every row in both modes
(full: dense counting; incremental: causal counting, a windowed layer's query seeing min(t, W)
keys). The figures pinned here are first-principles arithmetic, not the code's.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli_helpers import invoke
from flopcalc.architecture import FAMILIES, MOE_FAMILIES, Workload
from flopcalc.architectures.presets import PRESETS, make_architecture
from flopcalc.verify import verify
from fuzz_helpers import examples

# The switches each family's builder leaves free (the others are its fixed shape).
FREE = {
    "gpt2": ("fused_qkv", "tied_lm_head"),
    "gpt_neox": ("parallel_residual", "tied_lm_head"),
    "gemma2": ("fused_qkv", "qk_norm", "post_norms", "embed_scale", "attn_softcap",
               "final_softcap", "tied_lm_head"),
}
LLAMA_FREE = ("fused_qkv", "fused_gate_up", "qk_norm", "tied_lm_head")


@st.composite
def tiny_models(draw):
    # the dense families (tests/test_verify_moe.py draws the MoE and latent-attention ones)
    family = draw(st.sampled_from([f for f in FAMILIES if f not in MOE_FAMILIES]))
    base = make_architecture(None, None, family)
    n_layers = draw(st.integers(1, 3))
    n_kv = draw(st.sampled_from((1, 2)))
    n_heads = n_kv * draw(st.integers(1, 3))
    if family in ("gpt2", "gpt_neox"):   # one K/V head per head (NeoX's fused qkv)
        n_kv = n_heads
    d_head = draw(st.sampled_from((4, 8)))
    d_model = n_heads * d_head if family == "gpt2" else draw(st.sampled_from((8, 12, 16)))
    changes = dict(n_layers=n_layers, n_heads=n_heads, n_kv_heads=n_kv, d_head=d_head,
                   d_model=d_model, d_ff=draw(st.sampled_from((8, 20))), vocab=37,
                   n_positions=16, window_layers=None, sliding_window=None,
                   rotary_dims=None)
    if base.positions == "rotary":
        changes["rotary_dims"] = draw(st.sampled_from((2, d_head)))
    if draw(st.booleans()):
        changes["sliding_window"] = draw(st.integers(1, 4))
        if draw(st.booleans()):
            changes["window_layers"] = tuple(draw(st.sets(st.integers(0, n_layers - 1))))
            if not changes["window_layers"]:
                changes["window_layers"] = None
    for switch in FREE.get(family, LLAMA_FREE):
        if switch.endswith("softcap"):
            changes[switch] = draw(st.sampled_from((None, 5.0)))
        elif switch == "fused_gate_up" and base.mlp != "gated":
            continue
        else:
            changes[switch] = draw(st.booleans())
    changes["activation"] = draw(st.sampled_from(("gelu_tanh", "gelu", "relu", "silu")))
    load = Workload(draw(st.integers(1, 2)), draw(st.integers(1, 6)))
    return base.with_(**changes), load


@settings(max_examples=examples(25), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tiny_models(), st.sampled_from(("full", "incremental")))
def test_every_row_matches_for_any_small_model_of_any_family(model, mode):
    arch, load = model
    result = verify(arch, mode, workload=load)
    assert result.ok, [(r.layer, r.role, r.mismatches) for r in result.rows if not r.ok]
    # one row per matmul of each block (and the head), none left over
    roles = [(r.layer, r.role) for r in result.rows]
    assert len(roles) == len(set(roles))
    assert {r.layer for r in result.rows} == set(range(arch.n_layers)) | {None}


def mistral_tiny(**changes):
    """One Mistral-shaped block: 4 heads of 8 over 2 K/V heads, d_model 32, window 3."""
    fields = dict(n_layers=1, d_model=32, n_heads=4, n_kv_heads=2, d_head=8, d_ff=48,
                  vocab=50, sliding_window=3, rotary_dims=None)
    return make_architecture("mistral-7b-v0.1").with_(**{**fields, **changes})


def test_a_windowed_cache_keeps_w_keys_and_the_count_sums_min_t_w():
    B, L, H, DH, W = 2, 7, 4, 8, 3
    result = verify(mistral_tiny(), "incremental", workload=Workload(B, L))
    assert result.ok
    scores = next(r for r in result.rows if r.role == "attention.scores")
    # steps t = 1 … 7 see min(t, 3) keys: 1 + 2 + 3 * 5 = 18; each key costs d_head MACs
    assert scores.measured_flops == 2 * B * H * DH * 18
    assert scores.measured_shape == (B, H, 1, W)      # the last step: W keys, not L
    # K and V enter the scores as (B, h, d_head, W): two K/V heads repeated to four
    assert scores.measured_operands == ((B, H, 1, DH), (B, H, DH, W))
    dense = verify(mistral_tiny(), "full", workload=Workload(B, L))
    scores = next(r for r in dense.rows if r.role == "attention.scores")
    assert dense.ok and scores.measured_flops == 2 * B * H * L * L * DH  # L x L, then masked


def test_gemma2_layers_alternate_sliding_and_full_groups():
    arch = make_architecture("gemma-2-9b").with_(
        n_layers=2, d_model=16, n_heads=4, n_kv_heads=2, d_head=8, d_ff=24, vocab=40,
        sliding_window=2, window_layers=(0,), rotary_dims=None)
    B, L, H, DH = 1, 5, 4, 8
    result = verify(arch, "incremental", workload=Workload(B, L))
    assert result.ok
    by_layer = {r.layer: r for r in result.rows if r.role == "attention.scores"}
    assert (by_layer[0].group, by_layer[1].group) == ("sliding", "full")
    assert by_layer[0].measured_flops == 2 * B * H * DH * (1 + 2 + 2 + 2 + 2)   # min(t, 2)
    assert by_layer[1].measured_flops == 2 * B * H * DH * (1 + 2 + 3 + 4 + 5)   # t


def test_llama_roles_and_gqa_shapes():
    B, L, D, H, KV, DH, F, V = 1, 4, 32, 4, 1, 8, 40, 30
    arch = make_architecture("llama-3.1-8b").with_(n_layers=1, d_model=D, n_heads=H,
                                                   n_kv_heads=KV, d_head=DH, d_ff=F, vocab=V,
                                                   rotary_dims=None)
    result = verify(arch, workload=Workload(B, L))
    assert result.ok
    flops = {r.role: r.measured_flops for r in result.rows}
    assert flops == {"attention.q": 2 * L * D * H * DH, "attention.k": 2 * L * D * KV * DH,
                     "attention.v": 2 * L * D * KV * DH, "attention.scores": 2 * H * L * L * DH,
                     "attention.values": 2 * H * L * L * DH, "attention.o": 2 * L * H * DH * D,
                     "mlp.gate": 2 * L * D * F, "mlp.up": 2 * L * D * F,
                     "mlp.down": 2 * L * F * D, "lm_head": 2 * L * D * V}


@pytest.mark.parametrize("name", [n for n in PRESETS if not n.startswith("gpt2")
                                  and make_architecture(n).family not in MOE_FAMILIES])
def test_each_released_preset_shrunk_passes_in_both_modes(name):
    """Each preset's switches and layer pattern, two layers at a tenth of its width or less
    (the MoE presets, with experts to shrink too: tests/test_verify_moe.py)."""
    base = make_architecture(name)
    scale = base.n_heads // base.n_kv_heads
    layers = None if base.window_layers is None else tuple(i for i in base.window_layers
                                                           if i < 2)
    arch = base.with_(n_layers=2, window_layers=layers or None,
                      sliding_window=None if base.sliding_window is None else 3,
                      d_model=64, n_kv_heads=2, n_heads=2 * min(scale, 4), d_head=16,
                      rotary_dims=None if base.rotary_dims == base.d_head else 8,
                      d_ff=96, vocab=101, n_positions=min(base.n_positions, 64))
    for mode in ("full", "incremental"):
        assert verify(arch, mode, workload=Workload(2, 6)).ok


@pytest.mark.parametrize("batch", [1, 3])
def test_gpt2_small_at_full_width_one_layer(batch):
    # (pythia-1.4b at full width passes too, but its 0.4 G weights take ~20 s to fill);
    # three sequences decode through the few-rows products, the Conv1Ds' in blocks
    result = invoke("verify", "--preset", "gpt2", "--n-layers", "1", "--seq-len", "3",
                    "--mode", "incremental", "--batch", str(batch))
    assert result.exit_code == 0, result.stderr
    assert "✓ (" in result.stdout and "✗" not in result.stdout


def test_verify_accepts_every_family_on_the_command_line():
    result = invoke("verify", "--family", "mistral", "--n-layers", "2", "--d-model", "32",
                    "--n-heads", "4", "--n-kv-heads", "2", "--d-head", "8", "--d-ff", "48",
                    "--vocab", "64", "--seq-len", "5", "--window", "2",
                    "--mode", "incremental", "--format", "json")
    assert result.exit_code == 0, result.stderr
    import json

    doc = json.loads(result.stdout)
    assert doc["ok"] and doc["config"]["family"] == "mistral"
    scores = [r for r in doc["rows"] if r["name"] == "scores"]
    # each of the two layers: 4 heads, d_head 8, steps t = 1 … 5 seeing min(t, 2) keys
    assert [r["measured_flops"] for r in scores] == [2 * 4 * 8 * (1 + 2 + 2 + 2 + 2)] * 2


def test_a_model_the_numpy_pass_does_not_run_is_refused_in_one_line():
    """flops counts GPT-NeoX's fused query_key_value with fewer K/V heads ((h + 2·h_kv)·d_head
    wide), but Hugging Face's GPT-NeoX has as many as heads, and so has the NumPy pass:
    verify says so in one line, exit 2, not a traceback."""
    from cli_helpers import one_line_error

    result = invoke("verify", "--family", "gpt_neox", "--d-model", "64", "--n-heads", "4",
                    "--n-kv-heads", "2", "--n-layers", "1", "--d-ff", "16", "--vocab", "11",
                    "--seq-len", "4")
    assert result.exit_code == 2
    assert "query_key_value has as many K/V heads as heads" in one_line_error(result)
