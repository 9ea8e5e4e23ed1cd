"""Properties that hold for every valid GPT-2-style config, checked with hypothesis."""

from __future__ import annotations

from functools import lru_cache

from hypothesis import given, settings
from hypothesis import strategies as st

from flopcalc import Config, Conventions, flop_report, param_report
from flopcalc import formulas as fm
from fuzz_helpers import examples

# Modest and untimed: the whole file runs in a few seconds.
PROPERTY = settings(max_examples=examples(40), deadline=None)


@st.composite
def configs(draw, max_seq: int = 64):
    """Small valid configs: heads divide d_model, seq_len <= n_positions."""
    n_heads = draw(st.integers(1, 8))
    d_head = draw(st.integers(1, 16))
    seq_len = draw(st.integers(1, max_seq))
    return Config(
        d_model=n_heads * d_head,
        n_heads=n_heads,
        n_layers=draw(st.integers(1, 6)),
        d_ff=draw(st.none() | st.integers(1, 200)),
        vocab=draw(st.integers(1, 500)),
        n_positions=seq_len + draw(st.integers(0, 64)),
        seq_len=seq_len,
        batch=draw(st.integers(1, 4)),
        fused_qkv=draw(st.booleans()),
        bias=draw(st.booleans()),
    )


conventions = st.builds(
    Conventions,
    flops_per_mac=st.sampled_from([1, 2]),
    attention=st.sampled_from(["dense", "causal"]),
    elementwise=st.booleans(),
    embeddings=st.booleans(),
    lm_head=st.booleans(),
)


@lru_cache(maxsize=None)
def cached_formulas(conv: Conventions, fused_qkv: bool, bias: bool):
    return fm.formulas(conv, fused_qkv=fused_qkv, bias=bias)


@PROPERTY
@given(configs(), conventions)
def test_total_is_the_sum_of_rows_with_block_rows_counted_n_layers_times(cfg, conv):
    report = flop_report(cfg, conv)
    expected = sum(r.flops * (cfg.n_layers if r.op.section == "block" else 1)
                   for r in report.rows)
    assert report.total == expected
    assert report.blocks_total == cfg.n_layers * sum(
        r.flops for r in report.rows if r.op.section == "block")
    assert {r.op.section for r in report.rows} <= set(conv.sections)


@PROPERTY
@given(configs(), conventions)
def test_every_count_is_a_non_negative_int(cfg, conv):
    report = flop_report(cfg, conv)
    for value in [report.total, report.block_total] + [r.flops for r in report.rows] + [
            r.macs for r in report.rows]:
        assert type(value) is int and value >= 0


@PROPERTY
@given(configs(), conventions)
def test_symbolic_formulas_evaluated_at_the_config_equal_the_numeric_counts(cfg, conv):
    values = cached_formulas(conv, cfg.fused_qkv, cfg.bias).substitute(cfg)
    report = flop_report(cfg, conv)
    numeric = {(r.op.section, r.op.name): r.flops for r in report.rows}
    assert {k: v for k, v in values.items() if isinstance(k, tuple)} == numeric
    assert values["block"] == report.block_total
    assert values["total"] == report.total


@PROPERTY
@given(configs(), st.sampled_from(["dense", "causal"]), st.booleans())
def test_matmul_flops_are_twice_the_macs(cfg, attention, include_edges):
    two = flop_report(cfg, Conventions(flops_per_mac=2, attention=attention,
                                       embeddings=include_edges, lm_head=include_edges))
    one = flop_report(cfg, Conventions(flops_per_mac=1, attention=attention,
                                       embeddings=include_edges, lm_head=include_edges))
    assert two.total == 2 * one.total
    for r2, r1 in zip(two.rows, one.rows, strict=True):
        assert r2.flops == 2 * r1.flops == 2 * r2.macs


@PROPERTY
@given(configs(), st.booleans())
def test_causal_never_exceeds_dense(cfg, elementwise):
    dense = flop_report(cfg, Conventions(elementwise=elementwise))
    causal = flop_report(cfg, Conventions(attention="causal", elementwise=elementwise))
    assert causal.total <= dense.total
    for rc, rd in zip(causal.rows, dense.rows, strict=True):
        assert rc.flops <= rd.flops


@PROPERTY
@given(configs())
def test_causal_scores_and_attn_values_are_strictly_cheaper_beyond_one_token(cfg):
    dense = {r.op.name: r.flops for r in flop_report(cfg).rows}
    causal = {r.op.name: r.flops for r in flop_report(cfg, Conventions(attention="causal")).rows}
    for name in ("scores", "attn_values"):
        if cfg.seq_len > 1:
            assert causal[name] < dense[name]
        else:
            assert causal[name] == dense[name]
        # exactly L(L+1)/2 of the L*L pairs
        assert causal[name] * 2 * cfg.seq_len == dense[name] * (cfg.seq_len + 1)


@PROPERTY
@given(configs(max_seq=32), st.booleans())
def test_projections_and_ffn_are_linear_in_seq_len_and_scores_quadratic(cfg, elementwise):
    conv = Conventions(elementwise=elementwise)
    longer = cfg.with_(seq_len=2 * cfg.seq_len, n_positions=2 * cfg.n_positions)
    f1 = {r.op.name: r.flops for r in flop_report(cfg, conv).rows}
    f2 = {r.op.name: r.flops for r in flop_report(longer, conv).rows}
    linear = [n for n in f1 if n.endswith("_proj") or n in ("ffn_up", "ffn_down", "lm_head",
                                                             "gelu", "ln_1", "ln_2")]
    assert "out_proj" in linear
    for name in linear:
        assert f2[name] == 2 * f1[name], name
    quadratic = ["scores", "attn_values"] + (["scale", "causal_mask", "softmax"]
                                             if elementwise else [])
    for name in quadratic:
        assert f2[name] == 4 * f1[name], name


@PROPERTY
@given(configs(), conventions)
def test_every_linear_costs_two_flops_per_token_per_weight(cfg, conv):
    conv = Conventions(flops_per_mac=2, attention=conv.attention, elementwise=False)
    tokens = cfg.batch * cfg.seq_len
    for r in flop_report(cfg, conv).rows:
        if r.op.weight is not None:
            d_in, d_out = r.op.weight
            assert r.flops == 2 * tokens * d_in * d_out, r.op.name


@PROPERTY
@given(configs(), st.integers(1, 64), st.integers(1, 8))
def test_parameters_do_not_depend_on_seq_len_or_batch(cfg, seq_len, batch):
    other = cfg.with_(seq_len=seq_len, batch=batch, n_positions=max(seq_len, cfg.n_positions))
    n_pos_delta = (other.n_positions - cfg.n_positions) * cfg.d_model  # wpe grows with n_positions
    assert param_report(other).total == param_report(cfg).total + n_pos_delta
    same_pos = cfg.with_(seq_len=min(seq_len, cfg.n_positions), batch=batch)
    assert param_report(same_pos).total == param_report(cfg).total


@PROPERTY
@given(configs())
def test_parameter_count_matches_the_tensor_inventory(cfg):
    d, f, v, p, n = cfg.d_model, cfg.d_ff, cfg.vocab, cfg.n_positions, cfg.n_layers
    b = 1 if cfg.bias else 0
    ln = d + b * d
    block = 2 * ln + (3 * d * d + b * 3 * d) + (d * d + b * d) + (d * f + b * f) + (f * d + b * d)
    assert param_report(cfg).total == v * d + p * d + n * block + ln
    assert param_report(cfg).non_embedding == n * block + ln


@PROPERTY
@given(configs())
def test_fused_and_separate_qkv_agree(cfg):
    for conv in (Conventions(), Conventions(attention="causal", elementwise=True)):
        assert (flop_report(cfg.with_(fused_qkv=True), conv).total
                == flop_report(cfg.with_(fused_qkv=False), conv).total)
    assert (param_report(cfg.with_(fused_qkv=True)).total
            == param_report(cfg.with_(fused_qkv=False)).total)
