"""Memory, arithmetic intensity and roofline (flopcalc.memory, `flopcalc memory`).

Expected numbers are worked out here from first principles (shapes × bytes per element),
never read back from the code under test.
"""

from __future__ import annotations

import json
import re
from fractions import Fraction

import pytest
from cli_helpers import invoke as cli_invoke

from conftest import B, D, DFF, DH, H, L, NL, V
from flopcalc.analysis import flop_report
from flopcalc.config import Config, Conventions, FlopcalcError, Mode
from flopcalc.memory import (DEVICES, Device, activation_report, decimal_text, device,
                             dtype_bytes, kv_cache_bytes, memory_report, op_bytes, param_bytes,
                             roofline_report, time_text)

GPT2_PARAMS = 124_439_808


def rows(report) -> dict:
    return {r.op.name: r for r in report.rows}


# ---------------------------------------------------------------------------------------
# Memory
# ---------------------------------------------------------------------------------------


def test_parameter_bytes_are_count_times_dtype_size():
    cfg = Config()
    assert param_bytes(cfg, "bf16") == 2 * GPT2_PARAMS == 248_879_616
    assert param_bytes(cfg, "fp16") == 2 * GPT2_PARAMS
    assert param_bytes(cfg, "fp32") == 4 * GPT2_PARAMS
    assert param_bytes(cfg, "int8") == GPT2_PARAMS
    assert param_bytes(cfg.with_(batch=8, seq_len=1024), "bf16") == 2 * GPT2_PARAMS


def test_kv_cache_is_two_tensors_per_layer_of_batch_tokens_width():
    cfg = Config(seq_len=1024)
    assert kv_cache_bytes(cfg, 1024, "fp16") == 2 * 12 * 1024 * 768 * 2 == 37_748_736
    assert kv_cache_bytes(cfg.with_(batch=4), 1024, "fp32") == 2 * 12 * 4 * 1024 * 768 * 4
    xl = Config(d_model=1600, n_heads=25, n_layers=48)
    assert kv_cache_bytes(xl, 100, "int8") == 2 * 48 * 1 * 100 * 1600


def test_one_blocks_saved_activations_are_the_inventory_worked_by_hand():
    act = activation_report(Config(), "bf16")
    x, heads_scores, ffn = B * L * D, B * H * L * L, B * L * DFF
    # ln_1 in, ln_1 out, q, k, v, attention output, ln_2 in, ln_2 out: 8 (B, L, D) tensors;
    # P: (B, h, L, L); GELU input and output: (B, L, d_ff) each
    assert act.block_elements == 8 * x + heads_scores + 2 * ffn == 1_769_472
    assert act.bytes(act.block_elements) == 3_538_944
    assert [r.tensor for r in act.rows if r.section == "block"] == [
        "ln_1 input (block input)", "ln_1 output", "q", "k", "P = softmax(S)", "v",
        "attention output A", "ln_2 input", "ln_2 output", "GELU input u", "GELU output"]


def test_block_activations_are_korthikanti_without_the_dropout_terms():
    # Korthikanti et al. 2022, eq. 1: s·b·h·(34 + 5·a·s/h) bytes per layer at 16 bits, of which
    # dropout takes two 1-byte masks of (s, b, h) and, for the attention dropout, a 1-byte mask
    # and a 2-byte output of (a, s, s, b). flopcalc's GPT-2 has no dropout.
    for cfg in (Config(), Config(seq_len=1024, batch=4),
                Config(d_model=1600, n_heads=25, n_layers=48, seq_len=512)):
        s, b, h, a = cfg.seq_len, cfg.batch, cfg.d_model, cfg.n_heads
        korthikanti = s * b * h * 34 + 5 * a * s * s * b
        dropout = 2 * s * b * h + 3 * a * s * s * b
        assert activation_report(cfg, "fp16").bytes(
            activation_report(cfg, "fp16").block_elements) == korthikanti - dropout


def test_training_peak_is_all_blocks_plus_the_head():
    act = activation_report(Config(), "bf16")
    head = 2 * B * L * D + B * L * V            # ln_f input, ln_f output, logits
    assert act.section_elements("head") == head
    assert act.peak_elements == NL * 1_769_472 + head == 27_863_168


def test_full_recompute_keeps_each_block_input_and_rebuilds_one_block():
    cfg = Config(seq_len=1024, batch=2)
    act = activation_report(cfg, "bf16", recompute=True)
    s, b, h = 1024, 2, 768
    assert act.kept_per_block == s * b * h
    assert NL * act.bytes(act.kept_per_block) == 2 * s * b * h * NL   # Korthikanti: 2·s·b·h·L
    block = activation_report(cfg, "bf16").block_elements
    head = 2 * s * b * h + s * b * V
    assert act.peak_elements == NL * s * b * h + (block - s * b * h) + head
    assert act.peak_elements < activation_report(cfg, "bf16").peak_elements


def test_separate_qkv_stores_the_layernorm_output_once():
    fused = activation_report(Config(), "bf16")
    separate = activation_report(Config(fused_qkv=False), "bf16")
    assert separate.block_elements == fused.block_elements
    assert sum(r.tensor == "ln_1 output" for r in separate.rows) == 1


@pytest.mark.parametrize("cfg", [Config(), Config(d_model=256, n_heads=4, n_layers=3, seq_len=64),
                                 Config(fused_qkv=False, bias=False, seq_len=300)])
@pytest.mark.parametrize("recompute", [False, True])
def test_activation_bytes_scale_linearly_in_batch(cfg, recompute):
    one = activation_report(cfg, "bf16", recompute)
    for k in (2, 3, 8):
        many = activation_report(cfg.with_(batch=k), "bf16", recompute)
        assert many.block_elements == k * one.block_elements
        assert many.peak_elements == k * one.peak_elements


def test_dtype_sizes_and_unknown_dtype():
    assert [dtype_bytes(d) for d in ("fp32", "bf16", "fp16", "int8")] == [4, 2, 2, 1]
    with pytest.raises(FlopcalcError, match="unknown dtype"):
        dtype_bytes("fp8")


# ---------------------------------------------------------------------------------------
# Arithmetic intensity
# ---------------------------------------------------------------------------------------


def test_qkv_projection_intensity_written_out():
    r = rows(roofline_report(Config(), dtype="bf16"))["qkv_proj"]
    flops = 2 * B * L * D * 3 * D                                    # 452,984,832
    moved = 2 * (B * L * D + D * 3 * D + 3 * D + B * L * 3 * D)      # x, W, bias, output
    assert (r.flops, r.bytes) == (flops, moved) == (452_984_832, 4_329_984)
    assert r.intensity == Fraction(452_984_832, 4_329_984)
    assert decimal_text(r.intensity) == "104.62"


def test_attention_matmul_bytes_include_the_l_by_l_scores():
    r = rows(roofline_report(Config(), dtype="fp32"))["scores"]
    assert r.bytes == 4 * (B * H * L * DH + B * H * DH * L + B * H * L * L)
    assert r.intensity == Fraction(2 * B * H * L * L * DH, r.bytes) == 16


def test_intensity_of_a_linear_grows_with_tokens():
    last = Fraction(0)
    for seq_len in (1, 2, 8, 64, 256, 1024):
        value = rows(roofline_report(Config(seq_len=seq_len)))["ffn_up"].intensity
        assert value > last
        last = value
    # as tokens grow, activation reads and writes dominate: the limit at 16 bits is
    # 2·T·D·F / (2·T·(D + F)) = D·F / (D + F), approached but never reached
    assert Fraction(D * DFF, D + DFF) / 2 < last < Fraction(D * DFF, D + DFF)


def test_decode_linears_are_near_one_flop_per_byte_at_16_bits():
    # one token: 2·D·3D FLOPs over a 2·3D² byte weight, plus small vectors
    r = rows(roofline_report(Config(), mode=Mode("decode", position=128)))["qkv_proj"]
    assert r.flops == 2 * D * 3 * D
    assert r.bytes == 2 * (D + 3 * D * D + 3 * D + 3 * D)
    assert Fraction(9, 10) < r.intensity < 1


def test_backward_bytes_rules():
    ops = {r.op.name: r.op for r in roofline_report(Config(), Conventions(elementwise=True)).rows}
    assert op_bytes(ops["ffn_up"], 2, backward=True) == 2 * op_bytes(ops["ffn_up"], 2)
    gelu = ops["gelu"]      # reads dy and the input, writes dx
    assert op_bytes(gelu, 2, backward=True) == 2 * 3 * B * L * DFF


# ---------------------------------------------------------------------------------------
# Roofline
# ---------------------------------------------------------------------------------------

# A made-up device with easy arithmetic: 1 TFLOPS and 1,000 GB/s, so the ridge point is
# 1 FLOP/byte and a time is max(FLOPs, bytes) / 10¹² s.
TOY = Device("toy", "toy", {d: Fraction(1) for d in ("fp32", "bf16", "fp16", "int8")},
             Fraction(1000))


def test_roofline_forward_on_a_toy_device():
    report = roofline_report(Config(), dtype="fp32", dev=TOY)
    # every matmul does more than 1 FLOP per byte: compute-bound, time = FLOPs / 10¹²;
    # the embedding gather does none: it moves 2 rows in and 2 out per token at 4 bytes
    embed_bytes = 4 * 2 * 2 * B * L * D
    assert report.flops == 32_228_179_968
    assert report.time == Fraction(32_228_179_968 + embed_bytes, 10 ** 12)
    assert {r.op.name: r.bound for r in report.rows}["embed"] == "memory"
    assert all(r.bound == "compute" for r in report.rows if r.op.name != "embed")


def test_roofline_train_step_on_a_toy_device():
    report = roofline_report(Config(), mode=Mode("train"), dtype="fp32", dev=TOY)
    embed = 4 * 2 * 2 * B * L * D + 4 * 3 * 2 * B * L * D    # gather, then scatter-add
    assert report.time == Fraction(3 * 32_228_179_968 + embed, 10 ** 12)
    recompute = roofline_report(Config(), mode=Mode("train", recompute=True), dtype="fp32", dev=TOY)
    blocks = 12 * 1_862_270_976      # recomputation re-runs the blocks' forward only
    assert recompute.time == Fraction(3 * 32_228_179_968 + blocks + embed, 10 ** 12)


def test_roofline_decode_step_is_bytes_over_bandwidth_when_memory_bound():
    slow = Device("slow", "slow", {"fp16": Fraction(10 ** 6)}, Fraction(1))   # ridge 10⁹
    t = 100
    report = roofline_report(Config(), mode=Mode("decode", position=t), dtype="fp16", dev=slow)
    per_block = ((D + 3 * D * D + 3 * D + 3 * D)              # qkv_proj: x, W, b, out
                 + (D + D * t + H * t)                        # scores: q, K cache, S
                 + (H * t + D * t + D)                        # attn_values: P, V cache, out
                 + (D + D * D + D + D)                        # out_proj
                 + (D + D * DFF + DFF + DFF)                  # ffn_up
                 + (DFF + DFF * D + D + D))                   # ffn_down
    total = 4 * D + NL * per_block + (D + D * V + V)          # embed rows, blocks, lm_head
    assert report.bytes == 2 * total
    assert report.time == Fraction(2 * total, 10 ** 9)
    assert all(r.bound == "memory" for r in report.rows)


@pytest.mark.parametrize("mode", [Mode("forward"), Mode("train"), Mode("train", recompute=True),
                                  Mode("decode", position=77)])
@pytest.mark.parametrize("elementwise", [False, True])
def test_roofline_flops_agree_with_the_flop_report(mode, elementwise):
    cfg, conv = Config(seq_len=96, batch=3), Conventions(elementwise=elementwise)
    assert roofline_report(cfg, conv, mode).flops == flop_report(cfg, conv, mode).total


def test_bound_follows_the_ridge_point():
    a100 = DEVICES["a100"]
    assert a100.ridge("bf16") == Fraction(312 * 10 ** 12, 2039 * 10 ** 9)
    small = rows(roofline_report(Config(), dev=a100))["qkv_proj"]      # 104.6 < 153.0
    big = rows(roofline_report(Config(batch=8), dev=a100))["qkv_proj"]
    assert small.bound == "memory" and big.bound == "compute"
    assert big.intensity >= a100.ridge("bf16") > small.intensity


def test_devices_and_overrides():
    assert device("h100").peak("bf16") == Fraction("989.4") * 10 ** 12
    assert device("H100").bandwidth == 3350 * 10 ** 9
    custom = device(None, "0.5", "2", "bf16")
    assert custom.peak("bf16") == 5 * 10 ** 11 and custom.bandwidth == 2 * 10 ** 9
    for bad in (dict(name="nope"), dict(bandwidth_gbs="-1"), dict(peak_tflops="x"),
                dict(peak_tflops="0")):
        with pytest.raises(FlopcalcError):
            device(**bad)
    with pytest.raises(FlopcalcError, match="no fp32 peak"):
        memory_report(Config(), dtype="fp32", dev=device("tpu-v4"))


def test_display_rounding_is_exact_half_up():
    assert decimal_text(Fraction(1, 8)) == "0.13"
    assert decimal_text(Fraction(312000, 2039), 1) == "153.0"
    assert time_text(Fraction(9997, 10 ** 7)) == "1.00 ms"
    assert time_text(Fraction(1234, 10 ** 9)) == "1.23 µs"
    assert time_text(Fraction(5, 2)) == "2.50 s"


# ---------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------


def invoke(*args):
    return cli_invoke("memory", *args)


def test_cli_memory_table_shows_bytes_assumptions_and_device():
    result = invoke()
    assert result.exit_code == 0, result.stderr
    out = " ".join(result.stdout.split())
    assert "248,879,616" in out and "55,726,336" in out       # params, peak activations
    assert "NVIDIA A100 SXM 80GB" in out and "ridge point 153.0 FLOP/byte" in out
    assert "max(FLOPs / peak, bytes / bandwidth)" in out


def test_cli_memory_json_train_with_recompute():
    result = invoke("--mode", "train", "--recompute", "--dtype", "fp16", "--seq-len", "1024",
                    "-f", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["schema"] == "flopcalc.memory" and doc["mode"] == "train"
    assert doc["memory"]["kv_cache"]["bytes"] == 2 * 12 * 1024 * 768 * 2
    assert doc["memory"]["activations"]["kept_per_block_elements"] == 1024 * 768
    forward = flop_report(Config(seq_len=1024))
    # recompute: a forward, the blocks' forward again, and a backward of 2 forwards
    assert doc["roofline"]["train"]["flops"] == 3 * forward.total + forward.blocks_total
    row = {r["name"]: r for r in doc["rows"]}["qkv_proj"]
    assert Fraction(row["intensity"]) == Fraction(row["flops"], row["bytes"])
    assert row["times"] == 12 and type(row["bytes"]) is int


def test_cli_memory_custom_device_and_markdown():
    result = invoke("--peak-tflops", "1", "--bandwidth-gbs", "1000", "--dtype", "fp32",
                    "-f", "markdown")
    assert result.exit_code == 0, result.stderr
    assert "ridge point 1.0 FLOP/byte" in result.stdout
    assert "| qkv_proj |" in result.stdout


@pytest.mark.parametrize("args, words", [
    (["--device", "abacus"], "unknown device"),
    (["--bandwidth-gbs", "-5"], "--bandwidth-gbs"),
    (["--peak-tflops", "fast"], "--peak-tflops"),
    (["--device", "tpu-v4", "--dtype", "fp32"], "no fp32 peak"),
    (["--mode", "generate"], "--mode"),
    (["--mode", "decode", "--position", "5000"], "n_positions"),
])
def test_cli_memory_bad_input_is_one_line_exit_2(args, words):
    result = invoke(*args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and words in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


def test_cli_memory_help_has_an_example():
    result = invoke("--help")
    assert result.exit_code == 0
    assert "Example: flopcalc memory" in result.stdout


@pytest.mark.parametrize("args, given, preset", [
    (["--peak-tflops", "100", "--dtype", "int8"], "peak", "bandwidth"),
    (["--bandwidth-gbs", "1000", "--device", "h100"], "bandwidth", "peak"),
])
def test_an_overridden_figure_is_credited_to_the_command_line_and_the_other_to_the_preset(
        args, given, preset):
    doc = json.loads(invoke(*args, "-f", "json").stdout)["device"]
    name = "h100" if "h100" in args else "a100"
    sheet = DEVICES[name].source
    assert doc["source"] == (f"{given} given on the command line; {preset} from the {name} "
                             f"preset: {sheet}")
    assert DEVICES[name].label in doc["label"] and f"the {given} from --" in doc["label"]
    # the table's device note: 2,039 GB/s (the A100's) is not "given on the command line"
    out = " ".join(invoke(*args).stdout.split())
    assert f"({given} given on the command line; {preset} from the {name} preset" in out
    assert "(given on the command line)" not in out
    both = json.loads(invoke("--peak-tflops", "1", "--bandwidth-gbs", "1000", "-f",
                             "json").stdout)["device"]
    assert both["source"] == "peak and bandwidth given on the command line"
    assert "NVIDIA" not in both["label"]
    assert json.loads(invoke("-f", "json").stdout)["device"]["source"] == DEVICES["a100"].source


def test_cli_memory_in_an_80_column_terminal_shows_every_number_in_full():
    args = ["--preset", "gpt2-xl", "--seq-len", "1024", "--batch", "8", "--mode", "train",
            "--elementwise"]
    doc = json.loads(invoke(*args, "-f", "json").stdout)
    result = cli_invoke("memory", *args, env={"COLUMNS": "80", "TERMINAL_WIDTH": "80"})
    assert result.exit_code == 0, result.stderr
    out = " ".join(re.sub(r"[│┃]", " ", result.stdout).split())
    cells = out.split()
    for row in doc["rows"] + [doc["totals"]]:
        assert f"{row['flops']:,}" in cells and f"{row['bytes']:,}" in cells
        assert f" {time_text(Fraction(row['time_s']))} " in f" {out} "
    for part in ("parameters", "kv_cache"):
        assert f"{doc['memory'][part]['bytes']:,}" in cells
    assert f"{doc['memory']['activations']['peak_bytes']:,}" in cells
    # the per-op table's text column "bound" made way for the numbers, and says so
    assert ("Not shown at 80 columns: section, bound, model time, % of time; --format markdown "
            "or csv") in out

