"""Modes beyond one forward pass: backward, train, decode, generate; bias and LM-head variants.

Expected numbers are written out from first principles (GPT-2 small: d=768, h=12, d_head=64,
d_ff=3072, V=50257, 12 layers) or checked against an independent path (the NumPy reference
pass's measured multiply-adds).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flopcalc import Config, Conventions, FlopcalcError, flop_report, param_report
from flopcalc.analysis import decode_report
from flopcalc.config import Mode
from flopcalc import reference
from fuzz_helpers import examples

D, H, DH, F, V, N = 768, 12, 64, 3072, 50257, 12
LINEARS = {"qkv_proj": D * 3 * D, "out_proj": D * D, "ffn_up": D * F, "ffn_down": F * D,
           "lm_head": D * V}


def by_name(report):
    return {r.op.name: r.flops for r in report.rows}


def test_backward_matmuls_cost_twice_the_forward():
    fwd = by_name(flop_report(Config()))
    bwd = by_name(flop_report(Config(), mode=Mode("backward")))
    for name in ("qkv_proj", "scores", "attn_values", "out_proj", "ffn_up", "ffn_down", "lm_head"):
        assert bwd[name] == 2 * fwd[name]
    # the block: 2 * (2*L*d*3d + 2*h*L*L*dh*2 + 2*L*d*d + 2*2*L*d*dff) with L = 128
    L = 128
    forward_block = 2 * L * D * 3 * D + 2 * 2 * H * L * L * DH + 2 * L * D * D + 2 * 2 * L * D * F
    assert flop_report(Config(), mode=Mode("backward")).block_total == 2 * forward_block


def test_a_training_step_is_forward_plus_backward_and_recomputation_adds_the_blocks_forward():
    fwd = flop_report(Config()).total
    bwd = flop_report(Config(), mode=Mode("backward")).total
    assert flop_report(Config(), mode=Mode("train")).total == fwd + bwd == 3 * fwd
    # Megatron-style full recomputation re-runs each block's forward, not the LM head:
    L = 128
    blocks = N * (2 * L * D * 3 * D + 2 * 2 * H * L * L * DH + 2 * L * D * D + 2 * 2 * L * D * F)
    lm_head = 2 * L * D * V
    assert fwd == blocks + lm_head
    assert flop_report(Config(), mode=Mode("train", recompute=True)).total == 4 * blocks + 3 * lm_head


def test_elementwise_backward_uses_the_backward_cost_table():
    conv = Conventions(elementwise=True)
    bwd = by_name(flop_report(Config(), conv, Mode("backward")))
    L = 128
    assert bwd["gelu"] == 13 * L * F
    assert bwd["softmax"] == 4 * H * L * L
    assert bwd["ln_1"] == 10 * L * D + L * D          # + dβ, a bias gradient
    assert bwd["embed_add"] == 0                     # the gradient is copied to both tables
    assert bwd["qkv_proj"] == 2 * 2 * L * D * 3 * D + L * 3 * D


@pytest.mark.parametrize("name", sorted(LINEARS))
def test_every_linear_costs_two_flops_per_token_per_weight(name):
    for tokens, config in ((128, Config()), (4 * 256, Config(batch=4, seq_len=256))):
        assert by_name(flop_report(config))[name] == 2 * tokens * LINEARS[name]


def test_decode_step_at_position_t_attends_to_t_keys():
    t = 1000
    row = by_name(decode_report(Config(), t))
    assert row["qkv_proj"] == 2 * D * 3 * D
    assert row["scores"] == 2 * H * t * DH
    assert row["attn_values"] == 2 * H * t * DH
    assert row["lm_head"] == 2 * D * V
    block = 2 * D * 3 * D + 2 * 2 * H * t * DH + 2 * D * D + 2 * 2 * D * F
    assert decode_report(Config(), t).total == N * block + 2 * D * V


def test_decode_is_the_same_under_dense_and_causal_counting():
    for t in (1, 77, 1024):
        assert (decode_report(Config(), t).total
                == decode_report(Config(), t, Conventions(attention="causal")).total)


@settings(max_examples=examples(25), deadline=None)
@given(p=st.integers(1, 300), n=st.integers(1, 300), causal=st.booleans(),
       elementwise=st.booleans())
def test_generate_is_the_prefill_plus_each_decode_step(p, n, causal, elementwise):
    conv = Conventions(attention="causal" if causal else "dense", elementwise=elementwise)
    cfg = Config(seq_len=8)
    prefill = flop_report(cfg.with_(seq_len=p), conv).total
    steps = sum(decode_report(cfg, t, conv).total for t in range(p + 1, p + n))
    assert flop_report(cfg, conv, Mode("generate", prompt=p, new_tokens=n)).total == prefill + steps


@pytest.mark.parametrize("prompt", [1, 4, 9])
def test_generate_equals_the_measured_incremental_reference_pass(prompt):
    # Independent witness: the NumPy pass, token by token with a KV cache, over the
    # prompt + new_tokens - 1 = 9 positions that produce the new tokens. Under causal
    # counting a prefill costs what its tokens cost one by one, so any split of the 9
    # positions into prompt and decode steps gives the same total.
    cfg = Config(d_model=32, n_heads=4, n_layers=2, vocab=97, n_positions=64, seq_len=9, batch=2)
    gpt = reference.GPTConfig(n_layer=2, n_head=4, n_embd=32, d_ff=128, vocab_size=97,
                              n_positions=64)
    recorder = reference.MatmulRecorder()
    params = reference.init_params(gpt, seed=1, dtype=np.float64)
    reference.forward_incremental(params, gpt, np.zeros((2, 9), dtype=np.int64), recorder)
    measured = 2 * sum(r.macs for r in recorder.records)
    conv = Conventions(attention="causal")
    mode = Mode("generate", prompt=prompt, new_tokens=10 - prompt)
    assert flop_report(cfg, conv, mode).total == measured


@settings(max_examples=examples(30), deadline=None)
@given(d_head=st.integers(1, 16), n_heads=st.integers(1, 6), d_ff=st.integers(1, 200),
       seq_len=st.integers(1, 64), batch=st.integers(1, 4), vocab=st.integers(1, 500),
       causal=st.booleans(), fused=st.booleans())
def test_backward_matmuls_cost_twice_the_forward_for_any_config(d_head, n_heads, d_ff, seq_len,
                                                                  batch, vocab, causal, fused):
    cfg = Config(d_model=d_head * n_heads, n_heads=n_heads, n_layers=2, d_ff=d_ff, vocab=vocab,
                 n_positions=64, seq_len=seq_len, batch=batch, fused_qkv=fused)
    conv = Conventions(attention="causal" if causal else "dense")
    fwd, bwd = flop_report(cfg, conv), flop_report(cfg, conv, Mode("backward"))
    assert [(r.op.name, 2 * r.flops) for r in fwd.rows] == [(r.op.name, r.flops) for r in bwd.rows]
    assert bwd.total == 2 * fwd.total


def test_mode_options_apply_to_their_own_mode_only():
    with pytest.raises(FlopcalcError, match="decode"):
        Mode("forward", position=5)
    with pytest.raises(FlopcalcError, match="generate"):
        Mode("train", prompt=5)
    with pytest.raises(FlopcalcError, match="generate"):
        Mode("decode", new_tokens=5)
    assert Mode("forward").resolved(Config()) == Mode("forward")   # nothing to fill in


def test_generate_closed_form_matches_the_exact_sum():
    from flopcalc.formulas import formulas, symbolic_mode

    f = formulas(Conventions(attention="causal"), mode=symbolic_mode("generate"))
    for p, n in ((1, 1), (100, 29), (512, 513)):
        exact = flop_report(Config(), Conventions(attention="causal"),
                            Mode("generate", prompt=p, new_tokens=n)).total
        assert f.substitute(Config(), prompt=p, new_tokens=n)["total"] == exact


def test_decode_closed_form_is_linear_in_t():
    from flopcalc.formulas import formulas, symbolic_mode

    f = formulas(mode=symbolic_mode("decode"))
    values = [f.substitute(Config(), position=t)["total"] for t in (1, 2, 3)]
    assert values[2] - values[1] == values[1] - values[0] == N * 2 * 2 * H * DH


def test_positions_beyond_the_context_are_refused():
    with pytest.raises(FlopcalcError, match="n_positions"):
        flop_report(Config(), mode=Mode("decode", position=1025))
    with pytest.raises(FlopcalcError, match="n_positions"):
        flop_report(Config(), mode=Mode("generate", prompt=1000, new_tokens=26))
    with pytest.raises(FlopcalcError):
        Mode("sample")
    with pytest.raises(FlopcalcError, match="recompute"):
        Mode("forward", recompute=True)


def test_no_bias_is_nanogpts_parameter_count():
    # nanoGPT's bias=False: no Linear biases and no LayerNorm biases
    block = D * 3 * D + D * D + D * F + F * D + 2 * D   # four weights + two LayerNorm gains
    assert param_report(Config(bias=False)).total == V * D + 1024 * D + N * block + D == 124_337_664


def test_an_untied_lm_head_adds_its_own_weight():
    assert param_report(Config(tied_lm_head=False)).total == 124_439_808 + D * V
    assert by_name(flop_report(Config(tied_lm_head=False)))["lm_head"] == 2 * 128 * D * V
