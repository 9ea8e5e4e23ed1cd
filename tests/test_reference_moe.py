"""The reference pass's mixture of experts and latent attention, executed.

Tiny configs shaped like Hugging Face's Mixtral, Qwen2-MoE and DeepSeek-V3. The router
really routes: each expert runs on the tokens that picked it, and its matmuls are recorded
with those rows. Expected multiply-adds and routings are written out here from first
principles (a token-by-token loop), never taken from flopcalc's analytical core.
"""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from flopcalc import reference
from flopcalc.reference import (
    GPTConfig,
    MatmulRecorder,
    forward,
    forward_incremental,
    init_params,
    moe_mlp,
)

from reference_helpers import peak_over_estimate
from fuzz_helpers import examples

B, L = 2, 9
d, h, V = 32, 4, 61
BASE = dict(n_layer=3, n_head=h, n_embd=d, d_ff=48, vocab_size=V, n_positions=64,
            bias=False, fused_qkv=False, mlp="gated", activation="silu", norm="rmsnorm",
            positions="rotary", tied_lm_head=False)
# DeepSeek-V3's latent attention, shrunk: q_lora_rank 12, kv_lora_rank 10, heads of
# 6 + 4 (q/k) and 5 (v)
MLA = dict(q_lora_rank=12, kv_lora_rank=10, qk_nope_head_dim=6, qk_rope_head_dim=4,
           v_head_dim=5, head_dim=10)
MODELS = {
    "mixtral": GPTConfig(**BASE, family="mixtral", n_experts=4, top_k=2, d_expert=24),
    # Qwen2-MoE: q/k/v biased, a sigmoid-gated shared expert, no renormalisation;
    # layer 1 is dense (mlp_only_layers = [1])
    "qwen2_moe": GPTConfig(**BASE, family="qwen2_moe", qkv_bias=True, n_experts=6, top_k=2,
                           d_expert=12, d_shared=20, shared_gate=True, norm_topk_prob=False,
                           moe_layers=(0, 2)),
    # DeepSeek-V3: first_k_dense_replace = 1, sigmoid scores, correction bias, 4 groups of
    # 2 experts of which the best 2 groups are eligible, weights renormalised and x 2.5
    "deepseek_v3": GPTConfig(**BASE, **MLA, family="deepseek_v3", n_experts=8, top_k=3,
                             d_expert=16, d_shared=16, router_scoring="sigmoid",
                             routed_scale=2.5, router_bias=True, n_groups=4, topk_groups=2,
                             moe_layers=(1, 2)),
}


def tokens(config, batch=B, seq_len=L, seed=1):
    return np.random.default_rng(seed).integers(0, config.vocab_size, (batch, seq_len))


def with_random_correction(config, params, seed=3):
    """DeepSeek's correction bias starts at zero (as Hugging Face's buffer); give it values
    so that it changes the choice."""
    rng = np.random.default_rng(seed)
    for name in params:
        if name.endswith("e_score_correction_bias"):
            params[name] = rng.standard_normal(config.n_experts) * 0.01
    return params


@pytest.fixture(scope="module")
def params64():
    return {name: with_random_correction(c, init_params(c, seed=0, dtype=np.float64))
            for name, c in MODELS.items()}


# ----------------------------------------------------------------------------- first principles

def silu(x):
    return x / (1 + np.exp(-x))


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def expert_by_hand(p, key, names, x):
    """One gated expert on one token x (d,): down(silu(gate x) * up x), weights (out, in)."""
    gate, up, down = (p[f"{key}{names[part]}.weight"] for part in ("gate", "up", "down"))
    return down @ (silu(gate @ x) * (up @ x))


EXPERT_NAMES = {"mixtral": dict(gate="w1", up="w3", down="w2"),
                "qwen2_moe": dict(gate="gate_proj", up="up_proj", down="down_proj"),
                "deepseek_v3": dict(gate="gate_proj", up="up_proj", down="down_proj")}
MLP_PREFIX = {"mixtral": "block_sparse_moe.", "qwen2_moe": "mlp.", "deepseek_v3": "mlp."}


def moe_by_hand(family, config, p, layer, x):
    """The MoE layer of Hugging Face's modeling file, one token at a time: scores, the
    choice (DeepSeek: on the corrected scores, within the best groups), the weights, every
    chosen expert run on the token, the weighted sum, the shared expert. Also returns how
    many tokens each expert got."""
    pre = f"model.layers.{layer}.{MLP_PREFIX[family]}"
    names, E, k = EXPERT_NAMES[family], config.n_experts, config.top_k
    out, load = np.zeros_like(x), [0] * E
    for t, token in enumerate(x):
        logits = p[pre + "gate.weight"] @ token
        if config.router_scoring == "softmax":
            scores = np.exp(logits - logits.max())
            scores /= scores.sum()
        else:
            scores = sigmoid(logits)
        choice = scores + p.get(pre + "gate.e_score_correction_bias", 0.0)
        if config.n_groups:
            size = E // config.n_groups
            groups = [sorted(choice[g * size:(g + 1) * size])[-2:] for g in
                      range(config.n_groups)]
            best = sorted(range(config.n_groups), key=lambda g: -sum(groups[g]))
            best = best[:config.topk_groups]
            choice = np.array([choice[e] if e // size in best else 0.0 for e in range(E)])
        picked = sorted(range(E), key=lambda e: -choice[e])[:k]
        weights = scores[picked]
        if config.norm_topk_prob:
            weights = weights / weights.sum()
        weights = weights * (config.routed_scale or 1.0)
        for e, w in zip(picked, weights):
            load[e] += 1
            out[t] += w * expert_by_hand(p, f"{pre}experts.{e}.", names, token)
        if config.d_shared:
            shared_key = pre + ("shared_expert." if family == "qwen2_moe" else "shared_experts.")
            shared = expert_by_hand(p, shared_key, names, token)
            if config.shared_gate:
                shared = shared * sigmoid(p[pre + "shared_expert_gate.weight"] @ token)
            out[t] += shared
    return out, load


def attention_macs(c, batch, seq_len, incremental, absorbed=False):
    """Multiply-adds of one layer's attention, written out: GQA-less plain attention
    (Mixtral, Qwen2-MoE) or latent attention, as a full pass or token by token."""
    n, m = batch * seq_len, batch
    pairs = seq_len * seq_len if not incremental else seq_len * (seq_len + 1) // 2
    if not c.latent:
        dh = c.n_embd // c.n_head
        return 4 * n * d * h * dh + 2 * m * h * pairs * dh
    dn, dr, dv, r, rq = 6, 4, 5, 10, 12
    macs = n * (d * rq + rq * h * (dn + dr) + d * (r + dr) + h * dv * d)
    if not absorbed:
        # kv_b on the latent of every key: L rows at once, or t rows at step t
        kv_rows = n if not incremental else m * pairs
        return macs + kv_rows * r * h * (dn + dv) + m * h * pairs * (dn + dr + dv)
    # The first token is a one-token prefill, naive: kv_b on its latent, scores and
    # values of one key. Each later step t: q_nope W_UK and (P c_kv) W_UV, and scores and
    # values against the t cached latents.
    first = m * (r * h * (dn + dv) + h * (dn + dr + dv))
    later = (n - m) * h * (dn * r + r * dv) + m * h * (pairs - 1) * (r + dr + r)
    return macs + first + later


def expected_macs(c, batch, seq_len, incremental=False, absorbed=False):
    """Every layer's multiply-adds by role, written out; routed experts: tokens x top_k rows
    of one expert's three matmuls, whatever the routing."""
    n = batch * seq_len
    totals = {}
    for layer in range(c.n_layer):
        totals[layer] = attention_macs(c, batch, seq_len, incremental, absorbed)
        if c.is_moe(layer):
            totals[layer] += n * d * c.n_experts + 3 * n * c.top_k * d * c.d_expert
            if c.d_shared:
                totals[layer] += 3 * n * d * c.d_shared + (n * d if c.shared_gate else 0)
        else:
            totals[layer] += 3 * n * d * c.d_ff
    totals[None] = n * d * V
    return totals


def macs_by_layer(recorder):
    totals = {}
    for r in recorder.records:
        totals[r.layer] = totals.get(r.layer, 0) + r.macs
    return totals


# ----------------------------------------------------------------------------- weights

def test_weights_have_hugging_face_names_and_layouts(params64):
    mixtral = params64["mixtral"]
    assert mixtral["model.layers.0.block_sparse_moe.gate.weight"].shape == (4, d)
    assert mixtral["model.layers.2.block_sparse_moe.experts.3.w1.weight"].shape == (24, d)
    assert mixtral["model.layers.2.block_sparse_moe.experts.3.w2.weight"].shape == (d, 24)
    assert not any(".mlp." in name for name in mixtral)
    qwen = params64["qwen2_moe"]
    assert qwen["model.layers.0.mlp.experts.5.up_proj.weight"].shape == (12, d)
    assert qwen["model.layers.0.mlp.shared_expert.down_proj.weight"].shape == (d, 20)
    assert qwen["model.layers.0.mlp.shared_expert_gate.weight"].shape == (1, d)
    assert qwen["model.layers.1.mlp.gate_proj.weight"].shape == (48, d)  # the dense layer
    assert "model.layers.1.mlp.gate.weight" not in qwen
    ds = params64["deepseek_v3"]
    attn = "model.layers.0.self_attn."
    assert ds[attn + "q_a_proj.weight"].shape == (12, d)
    assert ds[attn + "q_a_layernorm.weight"].shape == (12,)
    assert ds[attn + "q_b_proj.weight"].shape == (h * 10, 12)
    assert ds[attn + "kv_a_proj_with_mqa.weight"].shape == (10 + 4, d)
    assert ds[attn + "kv_a_layernorm.weight"].shape == (10,)
    assert ds[attn + "kv_b_proj.weight"].shape == (h * (6 + 5), 10)
    assert ds[attn + "o_proj.weight"].shape == (d, h * 5)
    assert ds["model.layers.1.mlp.gate.e_score_correction_bias"].shape == (8,)
    assert ds["model.layers.1.mlp.shared_experts.gate_proj.weight"].shape == (16, d)
    assert ds["model.layers.0.mlp.down_proj.weight"].shape == (d, 48)  # dense layer 0


def test_parameter_count_from_first_principles(params64):
    # per layer: attention, two norms, the MLP (dense, or router + experts + shared); the
    # untied embedding and head and the final norm
    embed = 2 * V * d + d
    plain_attention = 4 * d * d
    qwen_attention = plain_attention + 3 * d  # q, k, v biases
    mla = d * 12 + 12 + 12 * h * 10 + d * 14 + 10 + 10 * h * 11 + h * 5 * d
    dense = 3 * d * 48
    counts = {
        "mixtral": embed + 3 * (plain_attention + 2 * d + 4 * d + 4 * 3 * d * 24),
        "qwen2_moe": embed + 3 * (qwen_attention + 2 * d) + dense
                     + 2 * (6 * d + 6 * 3 * d * 12 + 3 * d * 20 + d),
        "deepseek_v3": embed + 3 * (mla + 2 * d) + dense
                       + 2 * (8 * d + 8 + 8 * 3 * d * 16 + 3 * d * 16),
    }
    for family, expected in counts.items():
        assert sum(w.size for w in params64[family].values()) == expected


# ----------------------------------------------------------------------------- routing

@pytest.mark.parametrize("family", ["mixtral", "qwen2_moe", "deepseek_v3"])
def test_moe_layer_equals_hugging_faces_token_by_token_routing(params64, family):
    c, p = MODELS[family], params64[family]
    layer = 2
    x = np.random.default_rng(5).standard_normal((2, 7, d))
    recorder = MatmulRecorder()
    y = moe_mlp(p, f"model.layers.{layer}.", layer, x, recorder, c)
    expected, load = moe_by_hand(family, c, p, layer, x.reshape(-1, d))
    np.testing.assert_allclose(y.reshape(-1, d), expected, rtol=1e-12, atol=1e-14)
    # each expert ran once, on exactly the tokens that picked it
    rows = [r.a_shape[0] for r in recorder.select("expert_gate")]
    assert rows == [n for n in load if n]
    assert sum(rows) == 14 * c.top_k
    for r in recorder.select("expert_down"):
        assert r.b_shape == (c.d_expert, d) and r.out_shape == (r.a_shape[0], d)


def test_the_correction_bias_changes_the_choice_not_the_weights(params64):
    c, p = MODELS["deepseek_v3"], dict(params64["deepseek_v3"])
    x = np.random.default_rng(6).standard_normal((1, 12, d))
    key = "model.layers.1.mlp.gate.e_score_correction_bias"
    p[key] = np.zeros(8)
    plain = moe_mlp(p, "model.layers.1.", 1, x, None, c)
    _, load_plain = moe_by_hand("deepseek_v3", c, p, 1, x[0])
    p[key] = np.array([1.0, 0, 0, 0, 0, 0, 0, 0])  # expert 0 always chosen
    biased = moe_mlp(p, "model.layers.1.", 1, x, None, c)
    expected, load = moe_by_hand("deepseek_v3", c, p, 1, x[0])
    assert load[0] == 12 and load != load_plain
    np.testing.assert_allclose(biased[0], expected, rtol=1e-12, atol=1e-14)
    assert not np.allclose(biased, plain)


@pytest.mark.parametrize("family", list(MODELS))
def test_expert_counts_stay_exact_whatever_the_routing(params64, family):
    # Other tokens route differently (each expert's rows change), the total does not.
    c, p = MODELS[family], params64[family]
    loads = set()
    for seed in range(1, 5):
        recorder = MatmulRecorder()
        forward(p, c, tokens(c, seed=seed), recorder)
        layer = c.n_layer - 1
        loads.add(tuple(r.a_shape[0] for r in recorder.select("expert_up", layer)))
        for role in ("mlp.expert.gate", "mlp.expert.up", "mlp.expert.down"):
            assert recorder.total_macs(role=role, layer=layer) == B * L * c.top_k * d * c.d_expert
        assert macs_by_layer(recorder) == expected_macs(c, B, L)
    assert len(loads) > 1  # the routing did change


def test_one_expert_top_1_without_shared_expert_is_the_dense_gated_mlp():
    mixtral = GPTConfig(**BASE, family="mixtral", n_experts=1, top_k=1, d_expert=48)
    llama = GPTConfig(**BASE, family="llama")
    p = init_params(mixtral, dtype=np.float64)
    dense = {}
    for name, w in p.items():
        if ".block_sparse_moe.gate." in name:
            continue  # the router: one expert, softmax weight 1
        for expert, mlp in (("w1", "gate_proj"), ("w3", "up_proj"), ("w2", "down_proj")):
            name = name.replace(f"block_sparse_moe.experts.0.{expert}", f"mlp.{mlp}")
        dense[name] = w
    assert set(dense) == set(init_params(llama))
    idx = tokens(llama)
    for run in (forward, forward_incremental):
        moe_rec, dense_rec = MatmulRecorder(), MatmulRecorder()
        np.testing.assert_allclose(run(p, mixtral, idx, moe_rec), run(dense, llama, idx, dense_rec),
                                   rtol=1e-12, atol=1e-14)
        moe_roles, dense_roles = moe_rec.macs_by_role(), dense_rec.macs_by_role()
        assert moe_roles.pop("mlp.router") == 3 * B * L * d * 1  # three layers, one expert
        for part in ("gate", "up", "down"):
            assert moe_roles.pop(f"mlp.expert.{part}") == dense_roles.pop(f"mlp.{part}")
        assert moe_roles == dense_roles


# ----------------------------------------------------------------------------- the model

@pytest.mark.parametrize("family", list(MODELS))
def test_recorded_macs_equal_first_principles(params64, family):
    c, p = MODELS[family], params64[family]
    forms = [(False, "naive"), (True, "naive")] + ([(True, "absorbed")] if c.latent else [])
    for incremental, form in forms:
        recorder = MatmulRecorder()
        if incremental:
            forward_incremental(p, c, tokens(c), recorder, mla_decode=form)
        else:
            forward(p, c, tokens(c), recorder)
        assert macs_by_layer(recorder) == expected_macs(c, B, L, incremental,
                                                        form == "absorbed")


@pytest.mark.parametrize("family", list(MODELS))
def test_incremental_matches_dense_and_absorbed_matches_naive(params64, family):
    c, p = MODELS[family], params64[family]
    idx = tokens(c)
    dense = forward(p, c, idx)
    np.testing.assert_allclose(forward_incremental(p, c, idx), dense, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(forward_incremental(p, c, idx, mla_decode="absorbed"), dense,
                               rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("family", list(MODELS))
def test_changing_a_later_token_leaves_earlier_logits_unchanged(params64, family):
    c, p = MODELS[family], params64[family]
    idx = tokens(c)
    changed = idx.copy()
    changed[:, 5] = (changed[:, 5] + 1) % V
    runs = [forward, forward_incremental,
            lambda p, c, i: forward_incremental(p, c, i, mla_decode="absorbed")]
    for run in runs:
        before, after = run(p, c, idx), run(p, c, changed)
        # equal up to rounding: token 5's routing changes how many rows the experts see,
        # and BLAS may round a row in a batch of another size differently
        np.testing.assert_allclose(after[:, :5], before[:, :5], rtol=1e-12, atol=1e-15)
        assert not np.allclose(after[:, 5], before[:, 5], rtol=0, atol=1e-13)


def test_mla_decode_forms_record_their_own_matmuls(params64):
    c, p = MODELS["deepseek_v3"], params64["deepseek_v3"]
    naive, absorbed = MatmulRecorder(), MatmulRecorder()
    forward_incremental(p, c, tokens(c), naive)
    forward_incremental(p, c, tokens(c), absorbed, mla_decode="absorbed")
    # naive: step t expands the t cached latents through kv_b_proj
    for t, r in enumerate(naive.select("kv_b_proj", 0), start=1):
        assert (r.a_shape, r.b_shape) == ((B, t, 10), (10, h * (6 + 5)))
    for t, r in enumerate(naive.select("scores", 0), start=1):
        assert (r.a_shape, r.b_shape) == ((B, h, 1, 6 + 4), (B, h, 6 + 4, t))
    # absorbed: the first token is a (naive) prefill; then no kv_b_proj but q_nope · W_UK,
    # scores over kv_lora_rank + qk_rope_head_dim against the cache, values are the
    # latent, then · W_UV; the cache is one key head (B, 1, ...) broadcast over the h heads
    assert [r.a_shape for r in absorbed.select("kv_b_proj", 0)] == [(B, 1, 10)]
    for t, r in enumerate(absorbed.select("scores", 0)[1:], start=2):
        assert (r.a_shape, r.b_shape, r.out_shape) == ((B, h, 1, 10 + 4), (B, 1, 10 + 4, t),
                                                       (B, h, 1, t))
        assert r.macs == B * h * t * (10 + 4)
    for t, r in enumerate(absorbed.select("attn_values", 0)[1:], start=2):
        assert (r.a_shape, r.b_shape, r.out_shape) == ((B, h, 1, t), (B, 1, t, 10), (B, h, 1, 10))
        assert r.macs == B * h * t * 10
    assert len(absorbed.select("absorb_k", 0)) == len(absorbed.select("absorb_v", 0)) == L - 1
    k, v = absorbed.select("absorb_k", 0)[0], absorbed.select("absorb_v", 0)[0]
    assert (k.a_shape, k.b_shape, k.out_shape) == ((B, h, 1, 6), (h, 6, 10), (B, h, 1, 10))
    assert (v.a_shape, v.b_shape, v.out_shape) == ((B, h, 1, 10), (h, 10, 5), (B, h, 1, 5))
    assert absorbed.select(role="attention.absorb_k")  # roles of the shared vocabulary


def test_latent_cache_holds_kv_lora_rank_plus_rope_dims_per_token(monkeypatch):
    c = MODELS["deepseek_v3"]
    made = []
    original = reference.LatentCache

    def spy(*args, **kwargs):
        made.append(original(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(reference, "LatentCache", spy)
    # one thread: the whole batch in one cache per layer (not one per thread's sequences)
    monkeypatch.setattr(reference, "blas_thread_count", lambda: 1)
    forward_incremental(init_params(c), c, tokens(c))
    assert len(made) == 3 and all(cache.latent.shape == (B, L, 10 + 4) for cache in made)


def test_without_q_lora_rank_the_query_is_one_q_proj():
    c = GPTConfig(**BASE, **{**MLA, "q_lora_rank": None}, family="deepseek_v3")
    p = init_params(c, dtype=np.float64)
    assert p["model.layers.0.self_attn.q_proj.weight"].shape == (h * 10, d)
    assert not any("q_a_proj" in name for name in p)
    recorder = MatmulRecorder()
    idx = tokens(c)
    dense = forward(p, c, idx, recorder)
    assert recorder.total_macs("q_proj", 0) == B * L * d * h * 10
    np.testing.assert_allclose(forward_incremental(p, c, idx, mla_decode="absorbed"), dense,
                               rtol=1e-10, atol=1e-13)


def test_bad_moe_and_mla_switches_are_refused():
    for bad in (dict(n_experts=4, top_k=5, d_expert=8), dict(n_experts=4, d_expert=8),
                dict(n_experts=4, top_k=2, d_expert=8, shared_gate=True),
                dict(n_experts=6, top_k=2, d_expert=8, n_groups=4, topk_groups=2),
                dict(n_experts=8, top_k=5, d_expert=8, n_groups=4, topk_groups=2),
                dict(n_experts=4, top_k=2, d_expert=8, router_scoring="relu"),
                dict(kv_lora_rank=8), {**MLA, "head_dim": 12}, {**MLA, "n_kv_head": 2}):
        with pytest.raises(ValueError):
            GPTConfig(**{**BASE, **bad}, family="deepseek_v3")
    with pytest.raises(ValueError, match="mla_decode"):
        forward_incremental({"model.embed_tokens.weight": np.zeros((V, d))},
                            MODELS["deepseek_v3"], tokens(MODELS["deepseek_v3"]),
                            mla_decode="fused")


# ----------------------------------------------------------------------------- random configs

moe_configs = st.builds(
    lambda family, n_layer, n_head, d_nope, d_rope, d_v, rank, q_rank, d_expert, groups,
    group_size, top_k, shared, dense_layer, scoring: GPTConfig(
        n_layer=n_layer, n_head=n_head, n_embd=d, d_ff=20, vocab_size=V, n_positions=16,
        family=family, bias=False, fused_qkv=False, mlp="gated", activation="silu",
        norm="rmsnorm", positions="rotary", tied_lm_head=False,
        n_experts=groups * group_size, top_k=min(top_k, groups * group_size),
        d_expert=d_expert, d_shared=shared or None,
        shared_gate=bool(shared) and family == "qwen2_moe",
        router_scoring=scoring if family == "deepseek_v3" else "softmax",
        router_bias=family == "deepseek_v3",
        routed_scale=1.5 if family == "deepseek_v3" else None,
        n_groups=groups if family == "deepseek_v3" else None,
        topk_groups=groups if family == "deepseek_v3" else None,
        moe_layers=tuple(i for i in range(n_layer) if i != dense_layer),
        **(dict(q_lora_rank=q_rank, kv_lora_rank=rank, qk_nope_head_dim=d_nope,
                qk_rope_head_dim=2 * d_rope, v_head_dim=d_v, head_dim=d_nope + 2 * d_rope)
           if family == "deepseek_v3" else dict(head_dim=d // n_head))),
    st.sampled_from(["mixtral", "qwen2_moe", "deepseek_v3"]), st.integers(1, 3),
    st.sampled_from([1, 2, 4]), st.integers(1, 5), st.integers(1, 3), st.integers(1, 5),
    st.integers(1, 9), st.one_of(st.none(), st.integers(1, 9)), st.integers(1, 12),
    st.integers(1, 3), st.integers(1, 3), st.integers(1, 4), st.integers(0, 9),
    st.integers(-1, 2), st.sampled_from(["softmax", "sigmoid"]))


@settings(max_examples=examples(25), deadline=None)
@given(c=moe_configs, batch=st.integers(1, 2), seq_len=st.integers(1, 7))
def test_random_moe_and_mla_configs_agree_with_first_principles(c, batch, seq_len):
    p = init_params(c, dtype=np.float64)
    idx = tokens(c, batch, seq_len)
    dense = forward(p, c, idx)
    for form in ("naive", "absorbed"):
        recorder = MatmulRecorder()
        logits = forward_incremental(p, c, idx, recorder, mla_decode=form)
        np.testing.assert_allclose(logits, dense, rtol=1e-9, atol=1e-12)
        expert_rows = [r.a_shape[0] for r in recorder.records if r.name == "expert_gate"]
        assert sum(expert_rows) == batch * seq_len * c.top_k * sum(map(c.is_moe,
                                                                         range(c.n_layer)))
        assert all(type(r.macs) is int for r in recorder.records)


# ----------------------------------------------------------------------------- memory

@pytest.mark.parametrize("family", ["qwen2_moe", "deepseek_v3"])
@pytest.mark.parametrize("incremental", [False, True])
def test_memory_estimate_of_moe_and_mla_models_is_close_to_the_peak(family, incremental):
    c = GPTConfig(**{**BASE, "n_embd": 128, "n_head": 8, "d_ff": 256, "vocab_size": 2000,
                     "n_positions": 128},
                  **({**MLA, "kv_lora_rank": 64, "head_dim": 10} if family == "deepseek_v3"
                     else {}),
                  family=family, n_experts=8, top_k=2, d_expert=64, d_shared=128,
                  shared_gate=family == "qwen2_moe")
    assert 0.7 < peak_over_estimate(c, tokens(c, batch=2, seq_len=96), incremental) < 1.4
