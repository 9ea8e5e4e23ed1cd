"""The NumPy reference forward pass: a real GPT-2 whose recorded matmuls are the cross-check.

MAC counts here are written out from first principles, never taken from flopcalc's
analytical core, so that the two independent descriptions can be compared.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from flopcalc.reference import (
    GPTConfig,
    MatmulRecorder,
    blas_threads,
    busy_cores,
    estimate_memory_bytes,
    fill_normal,
    forward,
    forward_incremental,
    causal_mask,
    init_params,
    masked_softmax,
    matmul,
    pass_threads,
    rows_times_matrix,
    softmax,
)

from reference_helpers import peak_over_estimate
from fuzz_helpers import examples

TINY = GPTConfig(n_layer=2, n_head=4, n_embd=32, d_ff=128, vocab_size=97, n_positions=16)
B, L = 2, 8
BLOCK_OPS_FUSED = ["qkv_proj", "scores", "attn_values", "out_proj", "ffn_up", "ffn_down"]
BLOCK_OPS_SEPARATE = ["q_proj", "k_proj", "v_proj"] + BLOCK_OPS_FUSED[1:]


def tokens(config, batch=B, seq_len=L, seed=1):
    return np.random.default_rng(seed).integers(0, config.vocab_size, (batch, seq_len))


@pytest.fixture(scope="module")
def params64():
    return init_params(TINY, seed=0, dtype=np.float64)


def expected_macs(c: GPTConfig, batch: int, seq_len: int, incremental: bool) -> dict[str, int]:
    """Multiply-adds of each matmul, summed over layers, from first principles."""
    d, h, f, v = c.n_embd, c.n_head, c.d_ff, c.vocab_size
    dh = d // h
    tokens_ = batch * seq_len  # every Linear runs once per token, dense or incremental
    # Dense attention scores all L x L (query, key) pairs; token t (1-based) of an
    # incremental pass scores only its t keys: 1 + 2 + ... + L = L(L+1)/2 pairs.
    pairs = seq_len * (seq_len + 1) // 2 if incremental else seq_len * seq_len
    per_layer = {"scores": batch * h * pairs * dh,
                 "attn_values": batch * h * pairs * dh,
                 "out_proj": tokens_ * d * d,
                 "ffn_up": tokens_ * d * f,
                 "ffn_down": tokens_ * f * d}
    if c.fused_qkv:
        per_layer["qkv_proj"] = tokens_ * d * 3 * d
    else:
        per_layer.update(q_proj=tokens_ * d * d, k_proj=tokens_ * d * d, v_proj=tokens_ * d * d)
    totals = {name: c.n_layer * macs for name, macs in per_layer.items()}
    totals["lm_head"] = tokens_ * d * v
    return totals


# ----------------------------------------------------------------------------- the model

def test_logits_have_shape_batch_seq_vocab(params64):
    assert forward(params64, TINY, tokens(TINY)).shape == (B, L, TINY.vocab_size)
    assert forward_incremental(params64, TINY, tokens(TINY)).shape == (B, L, TINY.vocab_size)


def test_changing_a_later_token_leaves_earlier_logits_unchanged(params64):
    idx = tokens(TINY)
    changed = idx.copy()
    changed[:, 5] = (changed[:, 5] + 1) % TINY.vocab_size
    before, after = forward(params64, TINY, idx), forward(params64, TINY, changed)
    np.testing.assert_allclose(after[:, :5], before[:, :5], rtol=1e-12, atol=1e-12)
    assert not np.allclose(after[:, 5:], before[:, 5:])  # ...and it does change its own


def test_same_seed_same_logits_different_seed_different():
    idx = tokens(TINY)
    a = forward(init_params(TINY, seed=0), TINY, idx)
    b = forward(init_params(TINY, seed=0), TINY, idx)
    c = forward(init_params(TINY, seed=1), TINY, idx)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_incremental_matches_dense_in_float64(params64):
    idx = tokens(TINY)
    np.testing.assert_allclose(forward_incremental(params64, TINY, idx),
                               forward(params64, TINY, idx), rtol=1e-10, atol=1e-12)


def test_incremental_matches_dense_in_float32():
    params = init_params(TINY, seed=0)
    idx = tokens(TINY)
    dense, incremental = forward(params, TINY, idx), forward_incremental(params, TINY, idx)
    assert dense.dtype == incremental.dtype == np.float32
    np.testing.assert_allclose(incremental, dense, rtol=1e-4, atol=1e-5)


def test_float64_on_request_is_float64_throughout(params64):
    assert all(p.dtype == np.float64 for p in params64.values())
    logits = forward(params64, TINY, tokens(TINY))
    assert logits.dtype == np.float64
    # Float32 agrees with float64 only to float32 precision: the float64 pass is not
    # a float32 pass cast at the end.
    p32 = {k: v.astype(np.float32) for k, v in params64.items()}
    diff = np.abs(forward(p32, TINY, tokens(TINY)) - logits).max()
    assert 1e-12 < diff < 1e-4


def test_float32_is_the_default():
    params = init_params(TINY)
    assert all(p.dtype == np.float32 for p in params.values())
    assert forward(params, TINY, tokens(TINY)).dtype == np.float32


def test_init_follows_gpt2():
    c = GPTConfig(n_layer=3, n_head=4, n_embd=64, d_ff=256, vocab_size=500, n_positions=32)
    p = init_params(c, seed=0, dtype=np.float64)
    assert p["wte.weight"].shape == (c.vocab_size, c.n_embd)  # tied LM head: no separate weight
    assert p["h.0.attn.c_attn.weight"].shape == (c.n_embd, 3 * c.n_embd)  # (in, out): x @ W
    assert p["h.0.mlp.c_fc.weight"].shape == (c.n_embd, c.d_ff)
    assert p["wte.weight"].std() == pytest.approx(0.02, rel=0.05)
    assert p["h.0.mlp.c_fc.weight"].std() == pytest.approx(0.02, rel=0.05)
    # residual projections are scaled down by 1/sqrt(2 * n_layer)
    residual_std = 0.02 / math.sqrt(2 * c.n_layer)
    assert p["h.1.mlp.c_proj.weight"].std() == pytest.approx(residual_std, rel=0.05)
    assert p["h.1.attn.c_proj.weight"].std() == pytest.approx(residual_std, rel=0.1)
    assert not p["h.2.mlp.c_fc.bias"].any()
    assert (p["ln_f.weight"] == 1).all() and not p["ln_f.bias"].any()


def test_the_weight_fill_has_the_normal_distributions_statistics():
    w = fill_normal(np.empty(1 << 21, np.float64), 0.02, np.random.PCG64(3))
    z = w / 0.02
    # 2M draws: the sample mean's standard error is 1/sqrt(2M) = 0.0007
    assert abs(z.mean()) < 0.004 and z.std() == pytest.approx(1, abs=0.003)
    # the normal's mass within 1, 2 and 3 standard deviations: erf(k / sqrt 2)
    for k in (1, 2, 3):
        assert (abs(z) < k).mean() == pytest.approx(math.erf(k / math.sqrt(2)), abs=0.002)
    assert abs(np.mean(z ** 3)) < 0.01 and np.mean(z ** 4) == pytest.approx(3, abs=0.03)
    # independent draws: neighbours uncorrelated, and no value repeats a pattern of 4
    assert abs(np.corrcoef(z[:-1], z[1:])[0, 1]) < 0.003
    assert abs(np.corrcoef(z[:-4], z[4:])[0, 1]) < 0.003
    assert len(np.unique(w)) > 60_000      # 65,536 levels, nearly all drawn


def test_the_weight_fill_is_seeded_and_in_the_arrays_dtype():
    a = fill_normal(np.empty((300, 7), np.float32), 0.5, np.random.PCG64(1))
    b = fill_normal(np.empty((300, 7), np.float32), 0.5, np.random.PCG64(1))
    c = fill_normal(np.empty((300, 7), np.float32), 0.5, np.random.PCG64(2))
    assert a.dtype == np.float32 and (a == b).all() and not (a == c).all()


@pytest.mark.parametrize("cores, load, threads", [
    (2, 0.0, 2), (2, 0.4, 2), (2, 1.0, 1), (2, 7.6, 1), (8, 3.2, 5), (1, 0.0, 1), (4, 9.0, 1)])
def test_a_pass_uses_the_cores_the_machine_leaves_idle(cores, load, threads):
    assert pass_threads(cores, load) == threads


PSI_CONTENDED = "some avg10=55.20 avg60=40.11 avg300=12.00 total=99\nfull avg10=0.00\n"
PSI_IDLE = "some avg10=0.40 avg60=20.11 avg300=12.00 total=99\nfull avg10=0.00\n"


@pytest.mark.parametrize("loadavg, psi, busy", [
    ("8.19 5.90 2.68 3/512 1234\n", PSI_CONTENDED, 8.19),  # busy for a minute: the average
    ("8.19 5.90 2.68 1/512 1234\n", PSI_IDLE, 0),  # work that just finished: idle again
    ("8.19 5.90 2.68 3/512 1234\n", PSI_IDLE, 2),  # two others, on cores of their own
    ("0.10 0.30 0.50 4/512 1234\n", PSI_IDLE, 3),  # three others just started: the count
    ("0.10 0.30 0.50 4/512 1234\n", PSI_CONTENDED, 3),
    ("0.00 0.00 0.00 1/98 77\n", PSI_IDLE, 0),     # only the reader runs
    ("8.19 5.90 2.68 1/512 1234\n", None, 8.19),   # no PSI: the average counts
    ("0.10 0.30 0.50 4/512 1234\n", None, 3),
])
def test_busy_cores_counts_the_load_average_only_while_the_cpus_are_contended(
        tmp_path, loadavg, psi, busy):
    (tmp_path / "loadavg").write_text(loadavg)
    if psi is not None:
        (tmp_path / "cpu").write_text(psi)
    assert busy_cores(str(tmp_path / "loadavg"), str(tmp_path / "cpu"), interval=0) == busy


def test_busy_cores_takes_the_median_of_its_readings_of_the_runnable(tmp_path, monkeypatch):
    # a reading that catches a passing spike (or lull) does not decide alone
    readings = iter(["0.00 0.00 0.00 9/98 77\n", "0.00 0.00 0.00 2/98 77\n",
                     "0.00 0.00 0.00 2/98 77\n", "0.00 0.00 0.00 1/98 77\n",
                     "0.00 0.00 0.00 3/98 77\n"])
    path = tmp_path / "loadavg"
    real_open = open

    def fresh_reading(name, *args, **kwargs):
        if name == str(path):
            path.write_text(next(readings))
        return real_open(name, *args, **kwargs)

    monkeypatch.setattr("builtins.open", fresh_reading)
    (tmp_path / "cpu").write_text(PSI_IDLE)
    # runnable others 8, 1, 1, 0, 2: the median is 1
    assert busy_cores(str(path), str(tmp_path / "cpu"), samples=5, interval=0) == 1


def test_blas_threads_limits_and_restores():
    from threadpoolctl import threadpool_info

    def blas():
        return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]

    before = blas()
    with blas_threads(1):
        assert set(blas()) <= {1}
    assert blas() == before


def test_bias_false_has_no_biases_and_runs():
    c = GPTConfig(n_layer=2, n_head=4, n_embd=32, d_ff=128, vocab_size=97, n_positions=16,
                  bias=False)
    params = init_params(c, dtype=np.float64)
    assert not [name for name in params if name.endswith(".bias")]
    logits = forward(params, c, tokens(c))
    assert logits.shape == (B, L, c.vocab_size) and np.isfinite(logits).all()
    np.testing.assert_allclose(forward_incremental(params, c, tokens(c)), logits,
                               rtol=1e-10, atol=1e-12)


def test_separate_qkv_has_three_projections():
    c = GPTConfig(n_layer=1, n_head=4, n_embd=32, d_ff=128, vocab_size=97, n_positions=16,
                  fused_qkv=False)
    params = init_params(c)
    assert "h.0.attn.c_attn.weight" not in params
    assert all(params[f"h.0.attn.{t}_proj.weight"].shape == (32, 32) for t in "qkv")


def test_sequence_longer_than_n_positions_is_refused(params64):
    with pytest.raises(ValueError, match="n_positions"):
        forward(params64, TINY, tokens(TINY, seq_len=TINY.n_positions + 1))


# ----------------------------------------------------------------------------- softmax

def test_softmax_rows_sum_to_one_and_are_nonnegative():
    x = np.random.default_rng(0).normal(scale=10, size=(3, 5, 7))
    p = softmax(x)
    assert (p >= 0).all()
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-12)


def test_softmax_is_stable_for_large_scores_and_ignores_minus_infinity():
    p = softmax(np.array([[1000.0, 1001.0, -np.inf], [-1e4 - 1, -1e4, -np.inf]]))
    assert np.isfinite(p).all()
    np.testing.assert_allclose(p[:, 2], 0.0)
    e = math.e
    np.testing.assert_allclose(p[:, :2], [[1 / (1 + e), e / (1 + e)]] * 2)


@pytest.mark.parametrize("window", [None, 1, 3, 64, 70, 150, 200])
def test_masked_softmax_is_each_rows_softmax_over_the_keys_it_sees(window):
    # 150 rows: two full steps of 64 rows and a short one; windows below, at and above a step
    L = 150
    scores = np.random.default_rng(0).normal(scale=3, size=(L, L))
    i, j = np.indices((L, L))
    seen = (j <= i) & ((j > i - window) if window is not None else True)
    expected = np.where(seen, np.exp(scores - np.where(seen, scores, -np.inf).max(-1, keepdims=True)), 0)
    expected /= expected.sum(-1, keepdims=True)
    got = masked_softmax(scores.copy(), causal_mask(L, scores.dtype, window), window)
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=0)
    assert (got[~seen] == 0).all() and (got[seen] > 0).all()


# ----------------------------------------------------------------------------- recording

def test_matmul_records_shapes_and_macs_of_a_batched_product():
    recorder = MatmulRecorder()
    a, b = np.ones((2, 3, 4, 5)), np.ones((5, 6))
    out = matmul(recorder, "ffn_up", 0, a, b)
    (r,) = recorder.records
    assert (r.name, r.layer) == ("ffn_up", 0)
    assert (r.a_shape, r.b_shape, r.out_shape) == ((2, 3, 4, 5), (5, 6), (2, 3, 4, 6))
    assert r.macs == 2 * 3 * 4 * 5 * 6 and type(r.macs) is int
    np.testing.assert_array_equal(out, a @ b)


def test_matmul_without_recorder_just_multiplies():
    a, b = np.arange(6.0).reshape(2, 3), np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(matmul(None, "lm_head", None, a, b), a @ b)



@pytest.mark.parametrize("rows", [1, 2, 3, 4, 8, 9])
@pytest.mark.parametrize("layout", ["rows", "long rows", "transposed view",
                                    "tall transposed view", "short transposed view",
                                    "strided view"])
def test_matmul_of_few_rows_is_the_product_in_every_layout(layout, rows):
    # Decode steps' products: rows (rows, 1, k) times a weight, read by the path its layout
    # and the number of rows take (stored rows, long ones in several blocks of the cache's
    # size, a transposed (n, k) array, one of 23 stored rows, which one row reads as 4
    # streams of 5 and 3 left over, one of 3 stored rows, fewer than the streams, all left
    # over, a slice of neither; one row, a few, more).
    k, n = {"long rows": (500, 600), "tall transposed view": (7, 23),
            "short transposed view": (7, 3)}.get(layout, (7, 5))
    transposed = layout.endswith("transposed view")
    stored = (n, k) if transposed else (k, 2 * n) if layout == "strided view" else (k, n)
    i, j = np.indices(stored, dtype=np.float64)
    w = (j - 2 * i).T if transposed else i - 2 * j
    w = w[:, ::2] if layout == "strided view" else w
    column = 2 if layout == "strided view" else 1   # w[:, j] is stored column j * column
    # row r of x is r + 1, r + 2, ..., r + k, so out[r, j] = sum_i (i + 1 + r)(i - 2 j column)
    x = np.array([[i + 1.0 + r for i in range(k)] for r in range(rows)]).reshape(rows, 1, k)
    expected = [[sum((i + 1 + r) * i for i in range(k))
                 - 2 * j * column * sum(i + 1 + r for i in range(k)) for j in range(n)]
                for r in range(rows)]
    recorder = MatmulRecorder()
    out = matmul(recorder, "lm_head", None, x, w)
    assert out.shape == (rows, 1, n) and out.dtype == np.float64
    assert out.reshape(rows, n).tolist() == expected
    assert recorder.records[0].macs == rows * k * n
    assert (recorder.records[0].a_shape, recorder.records[0].b_shape) == ((rows, 1, k), (k, n))


@pytest.mark.parametrize("rows", [1, 2, 3, 4, 8])
def test_few_rows_times_a_long_transposed_view_equal_the_integer_product(rows):
    # 2000 stored rows of 40: at 2 or 3 rows, two blocks of 4 streams of 204 rows (256 KB
    # of float64), then 368 rows left over
    rng = np.random.default_rng(rows)
    stored = rng.integers(-50, 50, (2000, 40))
    x = rng.integers(-50, 50, (rows, 40))
    out = rows_times_matrix(x.astype(np.float64), stored.astype(np.float64).T)
    assert out.shape == (rows, 2000) and (out == x @ stored.T).all()


@pytest.mark.parametrize("threads, batch, groups", [(2, 1, 1), (2, 2, 2), (2, 3, 2),
                                                    (3, 5, 3), (1, 4, 1)])
def test_incremental_decodes_groups_of_sequences_in_threads(monkeypatch, threads, batch,
                                                           groups):
    import threading

    from flopcalc import reference

    # float64, so that one sequence's logits are the same alone or in any group
    c = GPTConfig(n_layer=2, n_head=4, n_embd=32, d_ff=64, vocab_size=97, n_positions=16)
    params = init_params(c, seed=0, dtype=np.float64)
    idx = tokens(c, batch=batch, seq_len=6)
    alone = np.concatenate([forward_incremental(params, c, idx[i:i + 1])
                            for i in range(batch)])
    # each group waits at a barrier for the others: decoded one after another, they would
    # break it (timeout) instead of passing it
    decode, seen, barrier = reference.decode, [], threading.Barrier(groups, timeout=10)

    def noting(params, config, idx, logits, recorder=None, mla_decode="naive"):
        barrier.wait()
        seen.append((threading.get_ident(), len(idx)))
        return decode(params, config, idx, logits, recorder, mla_decode)

    monkeypatch.setattr(reference, "blas_thread_count", lambda: threads)
    monkeypatch.setattr(reference, "decode", noting)
    together = forward_incremental(params, c, idx)
    assert len({ident for ident, _ in seen}) == groups
    # consecutive groups as equal as whole numbers allow: 3 -> 1 + 2, 5 -> 1 + 2 + 2
    assert sorted(size for _, size in seen) == sorted(
        (i + 1) * batch // groups - i * batch // groups for i in range(groups))
    np.testing.assert_allclose(together, alone, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(together, forward(params, c, idx), rtol=1e-10, atol=1e-12)


def test_an_error_in_another_thread_of_a_decode_is_raised(monkeypatch):
    import threading

    from flopcalc import reference

    block, main = reference.block, threading.get_ident()

    def failing(p, config, layer, x, *args):
        if layer == 1 and threading.get_ident() != main:
            raise FloatingPointError("the other thread's block 1")
        return block(p, config, layer, x, *args)

    monkeypatch.setattr(reference, "blas_thread_count", lambda: 2)
    monkeypatch.setattr(reference, "block", failing)
    with pytest.raises(FloatingPointError, match="other thread"):
        forward_incremental(init_params(TINY, dtype=np.float64), TINY, tokens(TINY))


def test_incremental_decodes_in_one_thread_with_a_recorder(monkeypatch):
    from flopcalc import reference

    monkeypatch.setattr(reference, "blas_thread_count", lambda: 2)
    recorder = MatmulRecorder()
    forward_incremental(init_params(TINY, dtype=np.float64), TINY, tokens(TINY), recorder)
    # every product of the whole batch: the first block's qkv takes both sequences' rows
    assert recorder.records[0].a_shape == (B, 1, TINY.n_embd)
    assert len(recorder.records) == L * (len(BLOCK_OPS_FUSED) * TINY.n_layer + 1)


@pytest.mark.parametrize("fused", [True, False])
def test_dense_blocks_record_their_ops_in_order(fused):
    c = GPTConfig(n_layer=3, n_head=4, n_embd=32, d_ff=64, vocab_size=97, n_positions=16,
                  fused_qkv=fused)
    recorder = MatmulRecorder()
    forward(init_params(c), c, tokens(c), recorder)
    block = BLOCK_OPS_FUSED if fused else BLOCK_OPS_SEPARATE
    assert [(r.name, r.layer) for r in recorder.records] == (
        [(name, layer) for layer in range(3) for name in block] + [("lm_head", None)])


def test_incremental_runs_every_block_once_per_token():
    recorder = MatmulRecorder()
    forward_incremental(init_params(TINY), TINY, tokens(TINY), recorder)
    one_step = [(name, layer) for layer in range(TINY.n_layer) for name in BLOCK_OPS_FUSED]
    assert [(r.name, r.layer) for r in recorder.records] == (one_step + [("lm_head", None)]) * L


def test_attention_shapes_dense_and_incremental(params64):
    h, dh = TINY.n_head, TINY.n_embd // TINY.n_head
    dense, step = MatmulRecorder(), MatmulRecorder()
    forward(params64, TINY, tokens(TINY), dense)
    forward_incremental(params64, TINY, tokens(TINY), step)
    (scores, values) = dense.select("scores", layer=0) + dense.select("attn_values", layer=0)
    assert (scores.a_shape, scores.b_shape, scores.out_shape) == (
        (B, h, L, dh), (B, h, dh, L), (B, h, L, L))
    assert (values.a_shape, values.b_shape) == ((B, h, L, L), (B, h, L, dh))
    # token t (1-based) of the incremental pass: one query against t cached keys
    for t, r in enumerate(step.select("scores", layer=1), start=1):
        assert (r.a_shape, r.b_shape, r.out_shape) == ((B, h, 1, dh), (B, h, dh, t), (B, h, 1, t))
    assert [r.a_shape for r in step.select("qkv_proj", layer=0)] == [(B, 1, TINY.n_embd)] * L


def test_total_macs_filters_by_name_and_layer(params64):
    recorder = MatmulRecorder()
    forward(params64, TINY, tokens(TINY), recorder)
    assert recorder.total_macs() == sum(r.macs for r in recorder.records)
    assert recorder.total_macs(layer=None) == recorder.total_macs("lm_head") == B * L * 32 * 97
    assert recorder.total_macs("ffn_up", layer=1) == B * L * 32 * 128
    assert recorder.total_macs(layer=0) == recorder.total_macs(layer=1)


configs = st.builds(
    lambda n_layer, n_head, d_head, d_ff, vocab, fused, bias: GPTConfig(
        n_layer, n_head, n_head * d_head, d_ff, vocab, n_positions=12, bias=bias,
        fused_qkv=fused),
    st.integers(1, 3), st.integers(1, 4), st.integers(1, 8), st.integers(1, 40),
    st.integers(2, 50), st.booleans(), st.booleans())


@settings(max_examples=examples(30), deadline=None)
@given(c=configs, batch=st.integers(1, 3), seq_len=st.integers(1, 12))
def test_recorded_macs_equal_first_principles(c, batch, seq_len):
    params = init_params(c, dtype=np.float64)
    idx = tokens(c, batch, seq_len)
    for incremental, run in [(False, forward), (True, forward_incremental)]:
        recorder = MatmulRecorder()
        run(params, c, idx, recorder)
        assert recorder.macs_by_name() == expected_macs(c, batch, seq_len, incremental)
        assert all(type(r.macs) is int for r in recorder.records)


def test_token_ids_outside_the_vocabulary_are_refused(params64):
    with pytest.raises(ValueError, match="token ids"):
        forward(params64, TINY, np.full((1, 3), TINY.vocab_size))


def test_memory_estimate_is_close_to_the_measured_peak():
    c = GPTConfig(n_layer=2, n_head=8, n_embd=256, d_ff=1024, vocab_size=5000, n_positions=256)
    assert 0.8 < peak_over_estimate(c, tokens(c, batch=2, seq_len=256)) < 1.25
    assert estimate_memory_bytes(c, 2, 256, np.float64) == 2 * estimate_memory_bytes(c, 2, 256)
