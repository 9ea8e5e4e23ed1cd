"""The reference pass beyond GPT-2: every switch of the dense decoder family, executed.

One tiny config per family, shaped like its Hugging Face model (GQA, head_dim not
n_embd / n_head, biases, fused projections, norms, rotary, windows, soft-caps, parallel
residual, untied heads). Multiply-adds are written out here from first principles, never
taken from flopcalc's analytical core.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from flopcalc.reference import (
    GPTConfig,
    MatmulRecorder,
    estimate_memory_bytes,
    forward,
    forward_incremental,
    init_params,
    rms_norm,
    rotary,
    rotary_tables,
)

from reference_helpers import peak_over_estimate
from fuzz_helpers import examples

B, L = 2, 8
SIZES = dict(n_layer=2, n_head=4, n_embd=32, d_ff=48, vocab_size=61, n_positions=16)
LLAMA = dict(family="llama", n_kv_head=2, bias=False, fused_qkv=False, mlp="gated",
             activation="silu", norm="rmsnorm", positions="rotary", tied_lm_head=False)
FAMILIES = {
    "gpt2": GPTConfig(**SIZES),
    "llama": GPTConfig(**SIZES, **LLAMA),
    "mistral": GPTConfig(**SIZES, **LLAMA, sliding_window=3),
    # Qwen2: q/k/v biased, output not; use_sliding_window with max_window_layers = 1:
    # layers from 1 on are windowed
    "qwen2": GPTConfig(**SIZES, **{**LLAMA, "family": "qwen2", "tied_lm_head": True},
                       qkv_bias=True, sliding_window=3, window_layers=(1,)),
    "qwen3": GPTConfig(**SIZES, **{**LLAMA, "family": "qwen3"}, head_dim=12, qk_norm=True),
    # Gemma-2: layer 0 local (sliding), layer 1 global, as HF's layer_types
    "gemma2": GPTConfig(**SIZES, **{**LLAMA, "family": "gemma2", "tied_lm_head": True,
                                    "activation": "gelu_tanh"},
                        head_dim=16, norm_plus_one=True, norm_eps=1e-6, post_norms=True,
                        embed_scale=True, query_pre_attn_scalar=16, attn_softcap=0.05,
                        final_softcap=0.02, sliding_window=3, window_layers=(0,)),
    "phi3": GPTConfig(**SIZES, **{**LLAMA, "family": "phi3", "n_kv_head": None,
                                  "fused_qkv": True}, fused_gate_up=True, sliding_window=5),
    # GPT-NeoX (Pythia): biases, LayerNorm, rotary_pct 0.25, parallel residual, untied
    "gpt_neox": GPTConfig(**SIZES, family="gpt_neox", activation="gelu", positions="rotary",
                          rotary_dims=2, parallel_residual=True, tied_lm_head=False),
}


def tokens(config, batch=B, seq_len=L, seed=1):
    return np.random.default_rng(seed).integers(0, config.vocab_size, (batch, seq_len))


@pytest.fixture(scope="module")
def params64():
    return {name: init_params(c, seed=0, dtype=np.float64) for name, c in FAMILIES.items()}


# ----------------------------------------------------------------------------- weights

def test_weights_have_hugging_face_names_and_layouts(params64):
    d, dh, f, v = 32, 8, 48, 61
    llama = params64["llama"]
    assert llama["model.layers.0.self_attn.q_proj.weight"].shape == (4 * dh, d)  # (out, in)
    assert llama["model.layers.0.self_attn.k_proj.weight"].shape == (2 * dh, d)  # 2 KV heads
    assert llama["model.layers.1.mlp.gate_proj.weight"].shape == (f, d)
    assert llama["model.layers.1.mlp.down_proj.weight"].shape == (d, f)
    assert llama["lm_head.weight"].shape == (v, d) and "model.norm.weight" in llama
    assert not [name for name in llama if name.endswith(".bias")]
    qwen2 = params64["qwen2"]
    assert {"q_proj", "k_proj", "v_proj"} == {
        name.split(".")[-2] for name in qwen2 if name.endswith(".bias")}
    assert "lm_head.weight" not in qwen2  # tied
    qwen3 = params64["qwen3"]
    assert qwen3["model.layers.0.self_attn.q_proj.weight"].shape == (4 * 12, d)  # head_dim 12
    assert qwen3["model.layers.0.self_attn.o_proj.weight"].shape == (d, 4 * 12)
    assert qwen3["model.layers.0.self_attn.k_norm.weight"].shape == (12,)
    gemma = params64["gemma2"]
    norms = [name for name in gemma if name.startswith("model.layers.0.") and "layernorm" in name]
    assert sorted(norms) == sorted(f"model.layers.0.{n}_layernorm.weight" for n in
                                   ("input", "post_attention", "pre_feedforward",
                                    "post_feedforward"))
    assert not any(gemma[n].any() for n in norms)  # (1 + w) RMSNorm starts from w = 0
    phi3 = params64["phi3"]
    assert phi3["model.layers.0.self_attn.qkv_proj.weight"].shape == (3 * d, d)
    assert phi3["model.layers.0.mlp.gate_up_proj.weight"].shape == (2 * f, d)
    neox = params64["gpt_neox"]
    assert neox["gpt_neox.layers.0.attention.query_key_value.weight"].shape == (3 * d, d)
    assert neox["gpt_neox.layers.0.attention.dense.bias"].shape == (d,)
    assert neox["gpt_neox.layers.1.mlp.dense_h_to_4h.weight"].shape == (f, d)
    assert neox["embed_out.weight"].shape == (v, d)
    assert "gpt_neox.final_layer_norm.bias" in neox
    assert not any("embed_positions" in name for name in neox)  # rotary: no parameters
    assert params64["gpt2"]["wpe.weight"].shape == (16, d)


# ----------------------------------------------------------------------------- the model

@pytest.mark.parametrize("family", FAMILIES)
def test_changing_a_later_token_leaves_earlier_logits_unchanged(params64, family):
    c, p = FAMILIES[family], params64[family]
    idx = tokens(c)
    changed = idx.copy()
    changed[:, 5] = (changed[:, 5] + 1) % c.vocab_size
    for run in (forward, forward_incremental):
        before, after = run(p, c, idx), run(p, c, changed)
        assert np.isfinite(before).all()
        np.testing.assert_array_equal(after[:, :5], before[:, :5])
        assert not np.allclose(after[:, 5], before[:, 5], rtol=0, atol=1e-13)


@pytest.mark.parametrize("family", FAMILIES)
def test_incremental_matches_dense(params64, family):
    # Mistral, Qwen2, Gemma-2 and Phi-3 have windows smaller than L: their caches wrap
    c, p = FAMILIES[family], params64[family]
    idx = tokens(c)
    np.testing.assert_allclose(forward_incremental(p, c, idx), forward(p, c, idx),
                               rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("window", [L, L + 5])
def test_a_window_of_at_least_L_gives_full_causal_attention(params64, window):
    full = FAMILIES["llama"]
    windowed = GPTConfig(**SIZES, **LLAMA, sliding_window=window)
    p, idx = params64["llama"], tokens(full)
    np.testing.assert_array_equal(forward(p, windowed, idx), forward(p, full, idx))
    np.testing.assert_array_equal(forward_incremental(p, windowed, idx),
                                  forward_incremental(p, full, idx))
    assert not np.allclose(forward(p, FAMILIES["mistral"], idx), forward(p, full, idx))


@pytest.mark.parametrize("run", [forward, forward_incremental])
def test_a_window_of_W_sees_exactly_the_last_W_tokens(run):
    # One layer, W = 3: query i sees keys i-2, i-1, i. Token 0 reaches positions 0, 1, 2
    # and no later one.
    c = GPTConfig(**{**SIZES, "n_layer": 1}, **LLAMA, sliding_window=3)
    p = init_params(c, dtype=np.float64)
    idx = tokens(c)
    changed = idx.copy()
    changed[:, 0] = (changed[:, 0] + 1) % c.vocab_size
    before, after = run(p, c, idx), run(p, c, changed)
    assert not np.allclose(after[:, 2], before[:, 2], rtol=0, atol=1e-13)
    np.testing.assert_array_equal(after[:, 3:], before[:, 3:])


def test_incremental_windowed_layers_score_at_most_W_keys(params64):
    # Gemma-2: layer 0 local (W = 3), layer 1 global
    c, p = FAMILIES["gemma2"], params64["gemma2"]
    recorder = MatmulRecorder()
    forward_incremental(p, c, tokens(c), recorder)
    h, dh = 4, 16
    for layer, keys in [(0, lambda t: min(t, 3)), (1, lambda t: t)]:
        for t, r in enumerate(recorder.select("scores", layer), start=1):
            assert (r.a_shape, r.b_shape) == ((B, h, 1, dh), (B, h, dh, keys(t)))
        for t, r in enumerate(recorder.select("attn_values", layer), start=1):
            assert (r.a_shape, r.b_shape) == ((B, h, 1, keys(t)), (B, h, keys(t), dh))


# ----------------------------------------------------------------------------- rotary

@pytest.mark.parametrize("dims", [8, 4])  # all of a head's 8 dims, or half (partial)
def test_rotary_scores_depend_only_on_relative_position(dims):
    rng = np.random.default_rng(0)
    n = 12
    q = np.broadcast_to(rng.standard_normal(8), (1, 1, n, 8))  # one vector at every position
    k = np.broadcast_to(rng.standard_normal(8), (1, 1, n, 8))
    cos, sin = rotary_tables(0, n, dims, 10000.0, np.dtype(np.float64))
    scores = (rotary(q, cos, sin) @ rotary(k, cos, sin).swapaxes(-1, -2))[0, 0]
    for shift in range(1, 4):
        np.testing.assert_allclose(scores[shift:, shift:], scores[:-shift, :-shift],
                                   rtol=1e-12, atol=1e-12)
    assert not np.allclose(scores[0, 0], scores[0, 3])  # ...and it does depend on i - j
    # position 0 is not rotated; the dims past rotary_dims never are
    np.testing.assert_array_equal(rotary(q, cos, sin)[..., 0, :], q[..., 0, :])
    np.testing.assert_array_equal(rotary(q, cos, sin)[..., dims:], q[..., dims:])


def test_rotary_rotates_pairs_of_halves_by_position_times_frequency():
    # HF's rotate_half convention: dim i pairs with dim i + d/2, angle = position * theta^(-2i/d)
    x = np.zeros((1, 1, 4, 4))
    x[..., 0] = 1.0  # the unit vector of dim 0, at positions 0..3
    cos, sin = rotary_tables(0, 4, 4, 100.0, np.dtype(np.float64))
    y = rotary(x, cos, sin)[0, 0]
    for pos in range(4):
        np.testing.assert_allclose(y[pos], [math.cos(pos), 0, math.sin(pos), 0], atol=1e-15)
    cos, sin = rotary_tables(3, 1, 4, 100.0, np.dtype(np.float64))  # a decode step at t = 3
    x[..., 0], x[..., 1] = 0.0, 1.0  # dim 1, frequency 100^(-1/2) = 0.1
    np.testing.assert_allclose(rotary(x[..., :1, :], cos, sin)[0, 0, 0],
                               [0, math.cos(0.3), 0, math.sin(0.3)], atol=1e-15)


def test_rotary_model_logits_are_shift_invariant_within_a_window():
    # One layer, W = 3, rotary: the last token sees the same 3 tokens at the same relative
    # positions whether or not a token comes first. Learned positions break this.
    c = GPTConfig(**{**SIZES, "n_layer": 1}, **LLAMA, sliding_window=3)
    p = init_params(c, dtype=np.float64)
    idx = tokens(c, seq_len=6)
    longer = np.concatenate([idx[:, :1], idx], axis=1)
    np.testing.assert_allclose(forward(p, c, longer)[:, -1], forward(p, c, idx)[:, -1],
                               rtol=1e-10, atol=1e-14)
    learned = GPTConfig(**SIZES, sliding_window=3)
    p = init_params(learned, dtype=np.float64)
    assert not np.allclose(forward(p, learned, longer)[:, -1], forward(p, learned, idx)[:, -1],
                           rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------- GQA

def test_as_many_kv_heads_as_heads_is_multi_head_attention(params64):
    mha = GPTConfig(**SIZES, **{**LLAMA, "n_kv_head": None})
    gqa = GPTConfig(**SIZES, **{**LLAMA, "n_kv_head": 4})
    p = init_params(mha, dtype=np.float64)
    assert {k: v.shape for k, v in init_params(gqa).items()} == {k: v.shape for k, v in p.items()}
    idx = tokens(mha)
    records = []
    for c in (mha, gqa):
        records.append(MatmulRecorder())
        logits = forward(p, c, idx, records[-1])
    np.testing.assert_array_equal(logits, forward(p, mha, idx))
    assert records[0].records == records[1].records


def test_gqa_equals_mha_whose_kv_heads_are_repeated(params64):
    # Two KV heads serving four query heads are four KV heads, each K/V weight block
    # copied to the two query heads of its group. Their logits agree; the K/V
    # projections' multiply-adds are halved, everything else is the same.
    gqa, p = FAMILIES["llama"], params64["llama"]
    mha = GPTConfig(**SIZES, **{**LLAMA, "n_kv_head": None})
    p_mha = dict(p)
    for layer in range(2):
        for t in "kv":
            name = f"model.layers.{layer}.self_attn.{t}_proj.weight"
            p_mha[name] = np.repeat(p[name].reshape(2, 8, 32), 2, axis=0).reshape(32, 32)
    idx = tokens(gqa)
    r_gqa, r_mha = MatmulRecorder(), MatmulRecorder()
    np.testing.assert_allclose(forward(p, gqa, idx, r_gqa), forward(p_mha, mha, idx, r_mha),
                               rtol=1e-12, atol=1e-14)
    by_gqa, by_mha = r_gqa.macs_by_name(), r_mha.macs_by_name()
    for name in by_mha:
        assert by_gqa[name] == (by_mha[name] // 2 if name in ("k_proj", "v_proj")
                                else by_mha[name])


# ----------------------------------------------------------------------------- norms

def test_rms_norm_from_first_principles():
    x = np.array([[3.0, 4.0]])  # mean of squares 12.5
    w = np.array([1.0, 2.0])
    expected = np.array([[3.0, 8.0]]) / math.sqrt(12.5 + 1e-6)
    np.testing.assert_allclose(rms_norm(x, w, eps=1e-6), expected, rtol=1e-15)
    # Gemma: (1 + w), so w = 0 is the identity scale
    np.testing.assert_allclose(rms_norm(x, w - 1, eps=1e-6, plus_one=True), expected,
                               rtol=1e-15)


def test_config_switches_are_checked():
    with pytest.raises(ValueError, match="n_kv_head"):
        GPTConfig(**SIZES, n_kv_head=3)
    with pytest.raises(ValueError, match="activation"):
        GPTConfig(**SIZES, activation="swish")
    with pytest.raises(ValueError, match="family"):
        GPTConfig(**SIZES, family="bert")
    with pytest.raises(ValueError, match="rotary_dims"):
        GPTConfig(**SIZES, positions="rotary", rotary_dims=3)
    with pytest.raises(ValueError, match="window_layers"):
        GPTConfig(**SIZES, sliding_window=4, window_layers=(2,))
    with pytest.raises(ValueError, match="gated"):
        GPTConfig(**SIZES, fused_gate_up=True)
    assert GPTConfig(n_layer=1, n_head=3, n_embd=32, d_ff=8, vocab_size=5, n_positions=4,
                     head_dim=8).d_head == 8  # head_dim frees n_embd from n_head


# ----------------------------------------------------------------------------- recording

ROLE_OF = {"qkv_proj": "attention.qkv", "q_proj": "attention.q", "k_proj": "attention.k",
           "v_proj": "attention.v", "scores": "attention.scores",
           "attn_values": "attention.values", "out_proj": "attention.o",
           "ffn_gate": "mlp.gate", "ffn_up": "mlp.up", "ffn_gate_up": "mlp.gate_up",
           "ffn_down": "mlp.down", "lm_head": "lm_head"}


def expected_macs(c: GPTConfig, batch: int, seq_len: int, incremental: bool) -> dict[str, int]:
    """Multiply-adds of each matmul, summed over layers, from first principles."""
    d, h, kv, dh, f, v = c.n_embd, c.n_head, c.n_kv_head or c.n_head, c.head_dim, c.d_ff, \
        c.vocab_size
    dh = dh or d // h
    n = batch * seq_len  # every Linear runs once per token, dense or incremental
    totals: dict[str, int] = {"lm_head": n * d * v}

    def add(name, macs):
        totals[name] = totals.get(name, 0) + macs

    for layer in range(c.n_layer):
        windowed = c.sliding_window is not None and (c.window_layers is None
                                                     or layer in c.window_layers)
        w = c.sliding_window if windowed else seq_len
        # Dense scores all L x L pairs (then masks); token t (1-based) of an incremental
        # pass scores its last min(t, W) keys.
        pairs = (sum(min(t, w) for t in range(1, seq_len + 1)) if incremental
                 else seq_len * seq_len)
        if c.fused_qkv:
            add("qkv_proj", n * d * (h + 2 * kv) * dh)
        else:
            add("q_proj", n * d * h * dh)
            add("k_proj", n * d * kv * dh)
            add("v_proj", n * d * kv * dh)
        add("scores", batch * h * pairs * dh)
        add("attn_values", batch * h * pairs * dh)
        add("out_proj", n * h * dh * d)
        if c.mlp == "gated" and c.fused_gate_up:
            add("ffn_gate_up", n * d * 2 * f)
        elif c.mlp == "gated":
            add("ffn_gate", n * d * f)
        if not c.fused_gate_up:
            add("ffn_up", n * d * f)
        add("ffn_down", n * f * d)
    return totals


@pytest.mark.parametrize("family", FAMILIES)
def test_recorded_macs_and_roles_of_every_family(params64, family):
    c, p = FAMILIES[family], params64[family]
    for incremental, run in [(False, forward), (True, forward_incremental)]:
        recorder = MatmulRecorder()
        run(p, c, tokens(c), recorder)
        expected = expected_macs(c, B, L, incremental)
        assert recorder.macs_by_name() == expected
        by_role: dict[str, int] = {}
        for name, macs in expected.items():
            by_role[ROLE_OF[name]] = by_role.get(ROLE_OF[name], 0) + macs
        assert recorder.macs_by_role() == by_role
        assert all(r.role == ROLE_OF[r.name] for r in recorder.records)


def test_llama_block_records_its_matmuls_in_hugging_face_order(params64):
    recorder = MatmulRecorder()
    forward(params64["llama"], FAMILIES["llama"], tokens(FAMILIES["llama"]), recorder)
    block = ["attention.q", "attention.k", "attention.v", "attention.scores",
             "attention.values", "attention.o", "mlp.gate", "mlp.up", "mlp.down"]
    assert [(r.role, r.layer) for r in recorder.records] == (
        [(role, layer) for layer in range(2) for role in block] + [("lm_head", None)])
    k_proj = recorder.select(role="attention.k", layer=0)[0]
    assert (k_proj.a_shape, k_proj.b_shape) == ((B, L, 32), (32, 2 * 8))


family_configs = st.builds(
    lambda family, n_layer, n_kv, group, dh, d, f, gated, fused_qkv, fused_gate_up, window,
    windowed, rotary_half, tied, bias: GPTConfig(
        n_layer=n_layer, n_head=n_kv * group, n_embd=d, d_ff=f, vocab_size=23, n_positions=12,
        family=family, n_kv_head=n_kv if family != "gpt_neox" or not fused_qkv else None,
        head_dim=2 * dh, bias=bias, fused_qkv=fused_qkv, mlp="gated" if gated else "plain",
        fused_gate_up=gated and fused_gate_up, activation="silu" if gated else "gelu_tanh",
        norm="rmsnorm" if family != "gpt_neox" else "layernorm",
        positions="learned" if family == "gpt2" else "rotary",
        rotary_dims=2 * max(1, dh // 2) if rotary_half else None, sliding_window=window,
        window_layers=tuple(i for i in range(n_layer) if windowed[i % 2]),
        parallel_residual=family == "gpt_neox", tied_lm_head=tied,
        post_norms=family == "gemma2", norm_plus_one=family == "gemma2",
        qk_norm=family == "qwen3"),
    st.sampled_from(list(FAMILIES)), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3),
    st.integers(1, 4), st.integers(1, 12), st.integers(1, 20), st.booleans(), st.booleans(),
    st.booleans(), st.one_of(st.none(), st.integers(1, 6)),
    st.tuples(st.booleans(), st.booleans()), st.booleans(), st.booleans(), st.booleans())


@settings(max_examples=examples(25), deadline=None)
@given(c=family_configs, batch=st.integers(1, 2), seq_len=st.integers(1, 9))
def test_recorded_macs_equal_first_principles_for_random_configs(c, batch, seq_len):
    params = init_params(c, dtype=np.float64)
    idx = tokens(c, batch, seq_len)
    logits = {}
    for incremental, run in [(False, forward), (True, forward_incremental)]:
        recorder = MatmulRecorder()
        logits[incremental] = run(params, c, idx, recorder)
        assert recorder.macs_by_name() == expected_macs(c, batch, seq_len, incremental)
        assert all(type(r.macs) is int for r in recorder.records)
    np.testing.assert_allclose(logits[True], logits[False], rtol=1e-9, atol=1e-12)


# ----------------------------------------------------------------------------- memory

@pytest.mark.parametrize("incremental", [False, True])
def test_memory_estimate_of_a_gqa_gated_rotary_model_is_close_to_the_peak(incremental):
    c = GPTConfig(n_layer=2, n_head=8, n_embd=128, d_ff=384, vocab_size=3000, n_positions=128,
                  **{**LLAMA, "n_kv_head": 2}, sliding_window=64, window_layers=(0,))
    assert 0.7 < peak_over_estimate(c, tokens(c, batch=2, seq_len=128), incremental) < 1.4


# ----------------------------------------------------------------------------- block structure

def standardised(x, eps):
    """LayerNorm with unit weight and zero bias, written out."""
    mean = x.mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(((x - mean) ** 2).mean(-1, keepdims=True) + eps)


@pytest.mark.parametrize("parallel", [True, False])
def test_parallel_residual_feeds_the_mlp_the_blocks_input(monkeypatch, parallel):
    # GPT-NeoX: x + attn(ln1 x) + mlp(ln2 x). In block 0 the input is the token embedding,
    # so the MLP's input is its standardised embedding; sequentially it is not.
    from flopcalc import reference

    c = GPTConfig(**{**SIZES, "n_layer": 1}, family="gpt_neox", positions="rotary",
                  parallel_residual=parallel, tied_lm_head=False)
    p = init_params(c, dtype=np.float64)
    seen = []
    mlp = reference.mlp

    def recording_mlp(p, prefix, layer, x, recorder, **options):
        seen.append(x.copy())
        return mlp(p, prefix, layer, x, recorder, **options)

    monkeypatch.setattr(reference, "mlp", recording_mlp)
    idx = tokens(c)
    forward(p, c, idx)
    expected = standardised(p["gpt_neox.embed_in.weight"][idx], 1e-5)
    assert np.allclose(seen[0], expected, rtol=1e-12, atol=1e-12) == parallel


def test_gemma_post_norms_scale_each_sub_layer_and_logits_are_soft_capped():
    # With every post norm's weight at -1, (1 + w) = 0 silences both sub-layers: the logits
    # are the head's of the scaled embedding alone, written out here.
    c = FAMILIES["gemma2"]
    p = init_params(c, dtype=np.float64)
    for name in p:
        if "post_" in name and "layernorm" in name:
            p[name] -= 1.0
    idx = tokens(c)
    wte = p["model.embed_tokens.weight"]
    x = wte[idx] * math.sqrt(32)
    x = x / np.sqrt((x * x).mean(-1, keepdims=True) + 1e-6)  # final norm, (1 + 0) scale
    cap = c.final_softcap
    expected = cap * np.tanh((x @ wte.T) / cap)
    np.testing.assert_allclose(forward(p, c, idx), expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(forward_incremental(p, c, idx), expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("cap", [1e-3, None])
def test_attention_scores_are_soft_capped_before_softmax(monkeypatch, cap):
    from flopcalc import reference

    c = GPTConfig(**SIZES, **{**LLAMA, "n_kv_head": None}, attn_softcap=cap)
    p = init_params(c, dtype=np.float64)
    p = {k: v * 20 if "proj" in k else v for k, v in p.items()}  # scores well above 1e-3
    largest = []
    softmax = reference.softmax

    def recording_softmax(x, axis=-1, out=None):
        largest.append(np.abs(x).max())
        return softmax(x, axis, out)

    monkeypatch.setattr(reference, "softmax", recording_softmax)
    forward_incremental(p, c, tokens(c))  # incremental: softmax sees the scores unmasked
    assert (max(largest) <= 1e-3) == (cap is not None)


@pytest.mark.parametrize("qk_norm", [True, False])
def test_qk_norm_makes_scores_independent_of_the_scale_of_q_and_k(qk_norm):
    # Qwen3 RMS-normalises each head's q and k, so scaling W_q and W_k changes nothing.
    c = GPTConfig(**SIZES, **{**LLAMA, "family": "qwen3"}, qk_norm=qk_norm, norm_eps=1e-30)
    p = init_params(c, dtype=np.float64)
    scaled = {k: v * 7 if k.endswith(("q_proj.weight", "k_proj.weight")) else v
              for k, v in p.items()}
    idx = tokens(c)
    same = np.allclose(forward(scaled, c, idx), forward(p, c, idx), rtol=1e-10, atol=1e-14)
    assert same == qk_norm


def test_partial_rotary_rotates_rotary_dims_of_each_head(monkeypatch):
    from flopcalc import reference

    c = FAMILIES["gpt_neox"]  # rotary_pct 0.25 of d_head 8
    rotated = []
    rotary_ = reference.rotary

    def recording_rotary(x, cos, sin):
        rotated.append((x.shape, cos.shape))
        return rotary_(x, cos, sin)

    monkeypatch.setattr(reference, "rotary", recording_rotary)
    forward(init_params(c), c, tokens(c))
    assert rotated == [((B, 4, L, 8), (L, 2))] * 4  # q and k of 2 layers


def test_config_from_an_architecture_description_with_the_design_names():
    from types import SimpleNamespace

    arch = SimpleNamespace(
        family="gemma2", d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, d_head=16, d_ff=48,
        vocab=61, n_positions=16, mlp="gated", activation="gelu_tanh", norm="rmsnorm",
        positions="rotary", rotary_dims=16, qkv_bias=False, o_bias=False, mlp_bias=False,
        norm_bias=False, fused_qkv=False, fused_gate_up=False, qk_norm=False, post_norms=True,
        parallel_residual=False, embed_scale=True, attn_softcap=50.0, final_softcap=30.0,
        tied_lm_head=True, sliding_window=3, window_layers=(0,))
    c = GPTConfig.from_architecture(arch)
    assert (c.n_layer, c.n_head, c.kv_heads, c.d_head, c.n_embd, c.d_ff, c.vocab_size) == (
        2, 4, 2, 16, 32, 48, 61)
    assert c.norm_plus_one and c.post_norms and c.window(0) == 3 and c.window(1) is None
    assert not c.has_bias("qkv") and not c.has_bias("o")
    recorder = MatmulRecorder()
    forward_incremental(init_params(c, dtype=np.float64), c, tokens(c), recorder)
    assert recorder.macs_by_name() == expected_macs(c, B, L, incremental=True)


def test_activations_from_first_principles():
    from flopcalc.reference import ACTIVATIONS

    x = np.array([-3.0, -0.5, 0.0, 0.7, 2.0])
    erf = np.array([math.erf(v / math.sqrt(2)) for v in x])
    expected = {"gelu": 0.5 * x * (1 + erf), "relu": np.maximum(x, 0),
                "silu": x / (1 + np.exp(-x)),
                "gelu_tanh": 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi)
                                                    * (x + 0.044715 * x ** 3)))}
    assert set(ACTIVATIONS) == set(expected)
    for name, values in expected.items():
        # exact GELU's erf is Abramowitz & Stegun's 7.1.26, within 1.5e-7: 0.5 |x| 1.5e-7
        np.testing.assert_allclose(ACTIVATIONS[name](x.copy()), values, rtol=0,
                                   atol=0.5 * 3 * 1.5e-7 if name == "gelu" else 1e-15)


@pytest.mark.parametrize("family", FAMILIES)
def test_parameter_count_from_first_principles(params64, family):
    c = FAMILIES[family]
    d, h, f, v = 32, 4, 48, 61
    kv, dh = c.n_kv_head or h, c.head_dim or d // h
    qkv_bias = c.qkv_bias if c.qkv_bias is not None else c.bias
    o_bias = c.o_bias if c.o_bias is not None else c.bias
    mlp_bias = c.mlp_bias if c.mlp_bias is not None else c.bias
    norm = d * (2 if c.norm == "layernorm" and c.bias else 1)  # weight (and bias)
    block = (d * (h + 2 * kv) * dh + qkv_bias * (h + 2 * kv) * dh
             + h * dh * d + o_bias * d
             + (3 if c.mlp == "gated" else 2) * d * f
             + mlp_bias * ((2 * f if c.mlp == "gated" else f) + d)
             + norm * (4 if c.post_norms else 2) + (2 * dh if c.qk_norm else 0))
    expected = (v * d * (1 if c.tied_lm_head else 2) + (16 * d if c.positions == "learned" else 0)
                + 2 * block + norm)
    assert sum(w.size for w in params64[family].values()) == expected


def test_memory_estimate_keeps_W_keys_per_windowed_layer_at_any_depth():
    # A windowed layer's cache holds W = 3 of L = 100 tokens: 2 (K, V) * B * kv * d_head
    # * (L - W) float32s fewer per windowed layer; the layers are counted, never looped over.
    for n_layer in (2, 10 ** 30):
        full = GPTConfig(**{**SIZES, "n_layer": n_layer, "n_positions": 100}, **LLAMA)
        windowed = GPTConfig(**{**SIZES, "n_layer": n_layer, "n_positions": 100}, **LLAMA,
                             sliding_window=3, window_layers=(0,))
        saved = (estimate_memory_bytes(full, 2, 100, incremental=True)
                 - estimate_memory_bytes(windowed, 2, 100, incremental=True))
        assert saved == 2 * 2 * 2 * 8 * (100 - 3) * 4
