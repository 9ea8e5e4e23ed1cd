"""Hugging Face config.json fields: each one that changes a count is honoured or refused in
one line naming the file's key; the FFN activation (tanh GELU, exact GELU, ReLU)."""

from __future__ import annotations

import pytest

from flopcalc import Config, Conventions, FlopcalcError, flop_report, param_report
from flopcalc.config import Mode, make_config
from flopcalc.model import BACKWARD_COST

from cli_helpers import invoke, one_line_error
from conftest import B, D, DFF, GPT2_CONFIG_JSON, L, NL, V, rows_by_name

GPT2_PARAMS = 124_439_808           # HF's GPT2LMHeadModel("gpt2").num_parameters()
ELEMENTWISE_TOTAL = 32_317_440_000  # GPT-2 small, L = 128, --elementwise (counting-rules.md)
FFN_ELEMENTS = B * L * DFF          # 393,216 activation inputs per block


def test_tie_word_embeddings_false_adds_an_lm_head_weight(write_json):
    path = write_json({**GPT2_CONFIG_JSON, "tie_word_embeddings": False})
    cfg = make_config(config_path=path)
    assert not cfg.tied_lm_head
    # Hugging Face builds 163,037,184 parameters: the tied model plus a (768, 50257) lm_head
    assert param_report(cfg).total == GPT2_PARAMS + D * V == 163_037_184
    assert make_config(config_path=write_json({**GPT2_CONFIG_JSON, "tie_word_embeddings": True})
                       ).tied_lm_head


def test_cli_params_honours_tie_word_embeddings(write_json):
    path = write_json({**GPT2_CONFIG_JSON, "tie_word_embeddings": False})
    result = invoke("params", "--config", path, "--format", "csv")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[-1] == ",total,,,163037184"
    tied = invoke("params", "--config", write_json(GPT2_CONFIG_JSON, "tied.json"),
                  "--format", "csv")
    assert tied.stdout.splitlines()[-1] == ",total,,,124439808"


def test_cli_sweep_honours_tie_word_embeddings(write_json):
    path = write_json({**GPT2_CONFIG_JSON, "tie_word_embeddings": False})
    result = invoke("sweep", "--config", path, "--seq-len", "64,128", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert '"tied_lm_head": false' in result.stdout


@pytest.mark.parametrize("key, value", [("add_cross_attention", True),
                                        ("scale_attn_weights", False),
                                        ("scale_attn_by_inverse_layer_idx", True)])
def test_fields_that_would_change_a_count_are_refused_by_name(write_json, key, value):
    path = write_json({**GPT2_CONFIG_JSON, key: value})
    line = one_line_error(invoke("flops", "--config", path))
    assert key in line and str(path) in line
    # the value GPT-2 has is accepted
    make_config(config_path=write_json({**GPT2_CONFIG_JSON, key: not value}))


def test_other_architectures_and_activations_are_refused_by_name(write_json):
    line = one_line_error(invoke("params", "--config", write_json(
        {**GPT2_CONFIG_JSON, "architectures": ["GPT2DoubleHeadsModel"]})))
    assert "architectures" in line and "GPT2DoubleHeadsModel" in line
    line = one_line_error(invoke("params", "--config", write_json(
        {**GPT2_CONFIG_JSON, "activation_function": "quick_gelu"})))
    assert "activation_function 'quick_gelu'" in line
    line = one_line_error(invoke("params", "--config", write_json(
        {**GPT2_CONFIG_JSON, "tie_word_embeddings": "no"})))
    assert "tie_word_embeddings must be true or false" in line


def test_fields_that_change_no_count_are_ignored(write_json):
    ignored = {"layer_norm_epsilon": 1e-6, "resid_pdrop": 0.0, "embd_pdrop": 0.5,
               "attn_pdrop": 0.0, "initializer_range": 1.0, "reorder_and_upcast_attn": True,
               "summary_type": "mean", "summary_use_proj": False, "use_cache": False}
    assert make_config(config_path=write_json({**GPT2_CONFIG_JSON, **ignored})) == Config()


@pytest.mark.parametrize("key, value, message", [
    ("n_embd", "768", "n_embd must be a whole number, got '768'"),
    ("n_head", 0, "n_head must be positive, got 0"),
    ("n_layer", True, "n_layer must be a whole number, got True"),
    ("n_positions", -5, "n_positions must be positive, got -5"),
    ("vocab_size", 50257.0, "vocab_size must be a whole number, got 50257.0"),
    ("n_inner", "3072", "n_inner must be a whole number"),
    ("n_ctx", 0.5, "n_ctx must be a whole number"),
])
def test_config_errors_name_the_file_and_its_key(write_json, key, value, message):
    path = write_json({**GPT2_CONFIG_JSON, key: value})
    line = one_line_error(invoke("flops", "--config", path))
    assert f"config {path}: {message}" in line


def test_n_head_not_dividing_n_embd_is_named_in_the_files_terms(write_json):
    path = write_json({**GPT2_CONFIG_JSON, "n_head": 7})
    line = one_line_error(invoke("flops", "--config", path))
    assert "n_head (7) must divide n_embd (768)" in line


# The activations: GELU (tanh), as GPT-2; the exact erf GELU; ReLU.

@pytest.mark.parametrize("name, activation", [("gelu_new", "gelu_tanh"),
                                              ("gelu_pytorch_tanh", "gelu_tanh"),
                                              ("gelu_fast", "gelu_tanh"),
                                              ("gelu", "gelu"), ("gelu_python", "gelu"),
                                              ("relu", "relu")])
def test_activation_function_is_honoured(write_json, name, activation):
    path = write_json({**GPT2_CONFIG_JSON, "activation_function": name})
    assert make_config(config_path=path).activation == activation


@pytest.mark.parametrize("name, activation, cost", [
    ("gelu_fast", "gelu_tanh", 9), ("gelu_accurate", "gelu_tanh", 9),
    ("gelu_new", "gelu_tanh", 9), ("gelu_pytorch_tanh", "gelu_tanh", 9),
    ("gelu_python", "gelu", 5), ("gelu", "gelu", 5), ("silu", "silu", 4)])
def test_every_family_reads_the_same_activation_names(name, activation, cost):
    """A GPT-NeoX hidden_act takes GPT-2's names too; the activation row costs its table
    entry per element of (B, L, d_ff): tanh GELU 9, erf GELU 5, SiLU 4 (counting-rules.md)."""
    from flopcalc.architecture import Architecture, Workload
    from flopcalc.architectures.hf import architecture_fields

    fields = architecture_fields({"model_type": "gpt_neox", "hidden_size": 64,
                                  "num_attention_heads": 4, "intermediate_size": 96,
                                  "hidden_act": name}, "c.json")
    assert fields["activation"] == activation
    report = flop_report(Architecture(**fields), Conventions(elementwise=True),
                         workload=Workload(seq_len=8))
    act = next(r for r in report.rows if r.op.role == "mlp.act")
    assert act.flops == cost * 8 * 96


def test_relu_costs_one_per_element_forward_and_backward():
    conv = Conventions(elementwise=True)
    relu = flop_report(Config(activation="relu"), conv)
    rows = rows_by_name(relu)
    assert "gelu" not in rows
    assert rows["relu"].flops == FFN_ELEMENTS                      # max(u, 0): 393,216
    assert relu.total == ELEMENTWISE_TOTAL - NL * 8 * FFN_ELEMENTS == 32_279_691_264
    back = rows_by_name(flop_report(Config(activation="relu"), conv, Mode("backward")))
    assert back["relu"].flops == FFN_ELEMENTS                      # dy where u > 0
    assert BACKWARD_COST["relu"] == 1
    assert rows["relu"].op.computes == "ReLU(u) = max(u, 0)"


def test_exact_gelu_costs_five_per_element():
    # x·(1/√2), erf, +1, ·x, ·0.5 (docs/counting-rules.md)
    conv = Conventions(elementwise=True)
    report = flop_report(Config(activation="gelu"), conv)
    assert rows_by_name(report)["gelu"].flops == 5 * FFN_ELEMENTS
    assert report.total == ELEMENTWISE_TOTAL - NL * 4 * FFN_ELEMENTS == 32_298_565_632
    assert "erf" in rows_by_name(report)["gelu"].op.computes


def test_the_activation_changes_no_matmul_count():
    for activation in ("gelu", "relu"):
        assert flop_report(Config(activation=activation)).total == 32_228_179_968


def test_unknown_activation_is_refused():
    with pytest.raises(FlopcalcError, match="activation must be one of gelu_tanh, gelu, relu"):
        Config(activation="swish")


def test_config_line_names_a_non_default_activation(write_json):
    path = write_json({**GPT2_CONFIG_JSON, "activation_function": "relu"})
    result = invoke("flops", "--config", path, "--elementwise")
    assert result.exit_code == 0, result.stderr
    assert ", ReLU" in result.stdout and "max(u, 0)" in result.stdout


@pytest.mark.parametrize("activation", ["gelu", "relu"])
def test_verify_runs_the_activation_the_config_names(write_json, activation):
    from flopcalc import reference
    from flopcalc.verify import verify

    cfg = Config(d_model=16, n_heads=2, n_layers=1, vocab=50, n_positions=8, seq_len=6,
                 activation=activation)
    assert verify(cfg).ok
    import numpy as np
    u = np.array([-2.0, -0.5, 0.0, 1.5])
    if activation == "relu":
        assert reference.relu(u.copy()).tolist() == [0.0, 0.0, 0.0, 1.5]
    else:  # Φ(x) from tables: Φ(-2) = 0.02275, Φ(-0.5) = 0.30854, Φ(1.5) = 0.93319
        expected = [-2 * 0.0227501, -0.5 * 0.3085375, 0.0, 1.5 * 0.9331928]
        assert np.allclose(reference.gelu_exact(u.copy()), expected, atol=1e-6)


def test_computes_text_follows_the_bias_switch():
    with_bias = {r.op.name: r.op.computes for r in flop_report(Config(), Conventions(
        elementwise=True)).rows}
    assert with_bias["qkv_proj"] == "[q k v] = x · W_qkv + b_qkv (fused c_attn)"
    assert with_bias["ln_1"] == "LayerNorm: γ·(x−μ)/σ + β"
    rows = {r.op.name: r.op.computes for r in flop_report(Config(bias=False), Conventions(
        elementwise=True)).rows}
    assert rows["qkv_proj"] == "[q k v] = x · W_qkv (fused c_attn)"
    assert rows["out_proj"] == "y = A · W_o (c_proj)"
    assert rows["ffn_up"] == "u = x · W_1 (c_fc, d_model → d_ff)"
    assert rows["ffn_down"] == "y = u · W_2 (c_proj, d_ff → d_model)"
    assert rows["ln_1"] == rows["ln_2"] == rows["ln_f"] == "LayerNorm: γ·(x−μ)/σ"
    separate = {r.op.name: r.op.computes for r in flop_report(Config(bias=False,
                                                                     fused_qkv=False)).rows}
    assert [separate[f"{t}_proj"] for t in "qkv"] == ["q = x · W_q", "k = x · W_k", "v = x · W_v"]
    csv = invoke("flops", "--no-bias", "--elementwise", "--format", "csv").stdout
    assert "+ b_" not in csv and "β" not in csv


def test_memory_estimate_counts_the_exact_gelus_temporaries():
    # A wide FFN, so the (B, L, d_ff) arrays are what the pass holds at its peak.
    import tracemalloc

    import numpy as np

    from flopcalc.reference import GPTConfig, estimate_memory_bytes, forward, init_params

    c = GPTConfig(n_layer=1, n_head=1, n_embd=16, d_ff=65536, vocab_size=50, n_positions=64,
                  activation="gelu")
    idx = np.random.default_rng(1).integers(0, c.vocab_size, (1, 64))
    params = init_params(c)
    forward(params, c, idx)  # first run: lazy imports
    tracemalloc.start()
    try:
        forward(params, c, idx)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    held = estimate_memory_bytes(c, 1, 64) - 4 * sum(a.size for a in params.values())
    assert 0.9 < peak / held < 1.1
    assert held > 4 * 64 * 65536 * 4  # four (1, 64, 65536) float32 arrays
