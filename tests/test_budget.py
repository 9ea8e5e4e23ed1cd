"""flopcalc mfu and flopcalc budget: utilisations, times and costs are exact ratios of the
exact FLOP counts and the figures given, so multiplying back gives the counts."""

import json
from fractions import Fraction

import pytest

from cli_helpers import invoke, one_line_error
from flopcalc import budget as bg
from flopcalc.config import make_config
from flopcalc.memory import DEVICES, device
from test_cli import ok

GPT2 = make_config("gpt2", None, seq_len=1024, batch=16)
D, L, F, V, S = 768, 12, 3072, 50257, 1024
N_TOTAL = 124_439_808
# flopcalc's exact training step of one GPT-2 small sequence of 1,024 tokens, matmuls only,
# dense attention: 3 × the forward (forward, input and weight gradients), 2 FLOPs per MAC
SEQ_TRAIN = 3 * 2 * (S * L * (D * 3 * D + D * D + 2 * D * F + 2 * S * D) + S * D * V)


def test_mfu_times_peak_times_devices_gives_back_the_flop_rate():
    h100 = device("h100")
    report = bg.mfu_report(GPT2, Fraction(400_000), 8, h100)
    exact = report.rows[0]
    assert exact.flops_per_token == Fraction(SEQ_TRAIN, S)
    for r in report.rows:
        assert r.utilisation * 8 * Fraction("989.4") * 10 ** 12 == r.rate
        assert r.rate == r.flops_per_token * 400_000
    hfu = report.rows[1]
    assert hfu.kind == "HFU" and hfu.utilisation > exact.utilisation  # recomputation adds work


def test_step_time_means_batch_times_seq_len_tokens_per_step():
    assert bg.tokens_per_second(None, "0.5", 16 * 1024) == 32768
    for both_or_neither in ((None, None), ("1", "1")):
        with pytest.raises(ValueError, match="not both"):
            bg.tokens_per_second(*both_or_neither, 1)


def test_budget_time_times_devices_times_peak_times_mfu_is_the_exact_flops():
    b = bg.training_budget(GPT2, 10 ** 9, False, 8, device("h100"), "bf16", Fraction(2, 5),
                           Fraction(3))
    sequences = -(-10 ** 9 // S)  # 976,563: whole sequences cover the budget
    assert b.flops == sequences * SEQ_TRAIN
    assert b.seconds * 8 * Fraction("989.4") * 10 ** 12 * Fraction(2, 5) == b.flops
    assert b.device_hours == b.seconds * 8 / 3600 and b.cost == 3 * b.device_hours


def test_chinchilla_is_twenty_tokens_per_parameter():
    b = bg.training_budget(GPT2, None, True, 1, device("a100"), "bf16", Fraction(1, 2))
    assert b.tokens == 20 * N_TOTAL


def test_inference_per_generated_token_divides_the_request():
    one = make_config("gpt2", None, seq_len=128)
    i = bg.inference_budget(one, 128, 4, device("h100"))
    # prefill of 128 tokens + decode steps at positions 129, 130, 131 (matmuls, dense)
    def fwd(q, kv):
        return 2 * (q * L * (D * 3 * D + D * D + 2 * D * F + 2 * kv * D) + q * D * V)
    assert i.flops == fwd(128, 128) + sum(fwd(1, t) for t in (129, 130, 131))
    assert i.seconds > i.prefill_seconds > 0


def test_every_device_the_issue_names_has_a_dense_bf16_peak():
    for name in ("h100", "h100-pcie", "h200", "b200", "a100", "mi300x", "tpu-v5e", "tpu-v5p",
                 "l4", "rtx4090"):
        assert DEVICES[name].peak("bf16") > 0 and DEVICES[name].source


def test_the_commands_print_their_assumptions():
    out = " ".join(ok("mfu", "--preset", "gpt2", "--seq-len", "1024", "--batch", "16",
                      "--tokens-per-second", "400000", "--devices", "8", "--device", "h100",
                      "-f", "markdown").stdout.split())
    assert "8 × NVIDIA H100" in out and "989.4" in out and "Megatron-LM" in out
    assert "Estimates" in out
    doc = json.loads(ok("budget", "--preset", "gpt2", "--seq-len", "1024", "--chinchilla",
                        "--devices", "8", "--device", "h100", "--mfu", "40%", "--price", "2",
                        "-f", "json").stdout)
    assert doc["training"]["tokens"] == 20 * N_TOTAL and doc["training"]["mfu"] == "2/5"
    assert doc["training"]["flops"] == -(-20 * N_TOTAL // S) * SEQ_TRAIN


@pytest.mark.parametrize("command, args, says", [
    ("mfu", [], "--tokens-per-second"),
    ("mfu", ["--tokens-per-second", "-3"], "positive"),
    ("mfu", ["--step-time", "1", "--device", "tpu-v5e", "--dtype", "fp32"], "fp32"),
    ("mfu", ["--step-time", "1", "--devices", "0"], "--devices"),
    ("budget", [], "--chinchilla"),
    ("budget", ["--tokens", "10", "--mfu", "140%"], "at most 1"),
    ("budget", ["--tokens", "10", "--price", "free"], "--price"),
    ("budget", ["--tokens", "10", "--new-tokens", "5000"], "n_positions"),
])
def test_bad_input_is_one_line(command, args, says):
    assert says in one_line_error(invoke(command, *args))


def test_llama_on_15t_tokens_at_40_percent_on_8_h100s():
    from flopcalc.architecture import Workload
    from flopcalc.architectures.presets import preset_architecture

    d, layers, h, kv, dh, f, v, s = 4096, 32, 32, 8, 128, 14336, 128256, 8192
    # one sequence's training step: 3 × the forward's matmuls (q, k, v, o, gate, up, down, the
    # untied head; dense attention's two s×s GEMMs per layer), 2 FLOPs per multiply-add
    weights = layers * (2 * d * h * dh + 2 * d * kv * dh + 3 * d * f) + d * v
    per_sequence = 3 * (2 * s * weights + layers * 2 * 2 * s * s * h * dh)
    b = bg.training_budget(preset_architecture("llama-3.1-8b"), 15 * 10 ** 12, False, 8,
                           device("h100"), "bf16", Fraction(2, 5), workload=Workload(1, s))
    assert b.sequences == 1_831_054_688  # 15e12 / 8192 = 1,831,054,687.5, rounded up
    assert b.flops == b.sequences * per_sequence
    assert b.seconds * 8 * Fraction("989.4e12") * Fraction(2, 5) == b.flops
    assert b.device_hours == b.seconds * 8 / 3600
    chinchilla = bg.training_budget(preset_architecture("llama-3.1-8b"), None, True, 8,
                                    device("h100"), "bf16", Fraction(2, 5), workload=Workload(1, s))
    assert chinchilla.tokens == 20 * 8_030_261_248


def test_budget_counts_every_architecture():
    # Llama-3.1-8B generating 1 token after a 1-token prompt: one forward pass of one token,
    # worked out from the config: 32 layers of q, k, v, o and the gated MLP, then the LM head,
    # plus the 1×1 scores and values of each of the 32 query heads.
    D, d_head, h, h_kv, d_ff, V, n_layers = 4096, 128, 32, 8, 14336, 128256, 32
    per_layer = D * h * d_head + 2 * D * h_kv * d_head + h * d_head * D + 3 * D * d_ff
    flops = 2 * (n_layers * per_layer + D * V) + n_layers * 2 * (2 * h * d_head)
    doc = json.loads(ok("budget", "--preset", "llama-3.1-8b", "--seq-len", "1", "--tokens", "1",
                        "--prompt", "1", "--new-tokens", "1", "-f", "json").stdout)
    assert doc["inference"]["flops"] == flops == 15_009_841_152
    assert doc["inference"]["batch"] == 1


def test_the_budget_json_carries_the_peak_and_bandwidth_it_assumed():
    # time × devices × peak × MFU gives back the exact FLOPs from the document alone
    doc = json.loads(ok("budget", "--preset", "gpt2", "--seq-len", "1024", "--tokens", "4096",
                        "--devices", "4", "--peak-tflops", "100", "--bandwidth-gbs", "800",
                        "--mfu", "50%", "--prompt", "16", "--new-tokens", "4",
                        "-f", "json").stdout)
    train, infer = doc["training"], doc["inference"]
    assert train["peak_flops_per_second"] == str(100 * 10 ** 12)
    assert train["flops"] == 4 * SEQ_TRAIN
    assert (Fraction(train["seconds_exact"]) * train["devices"]
            * Fraction(train["peak_flops_per_second"]) * Fraction(train["mfu"])) == train["flops"]
    assert infer["peak_flops_per_second"] == str(100 * 10 ** 12)
    assert infer["bandwidth_bytes_per_second"] == str(800 * 10 ** 9)
    # a preset's figures: the H100 SXM's 989.4 TFLOP/s and 3,350 GB/s
    h100 = json.loads(ok("budget", "--preset", "gpt2", "--tokens", "128", "--device", "h100",
                         "--prompt", "8", "--new-tokens", "2", "-f", "json").stdout)
    assert h100["training"]["peak_flops_per_second"] == str(9894 * 10 ** 11)
    assert h100["inference"]["bandwidth_bytes_per_second"] == str(3350 * 10 ** 9)


def test_mfu_with_only_a_peak_names_no_preset_device():
    # no --device: the device is the peak given, not the default A100's bandwidth and name
    out = " ".join(ok("mfu", "--preset", "gpt2", "--seq-len", "1024", "--batch", "16",
                      "--step-time", "1/2", "--devices", "8", "--peak-tflops", "312",
                      "-f", "markdown").stdout.split())
    assert "8 × custom device" in out and "A100" not in out
    # utilisation = 3 × the forward per token × 16·1024 tokens per 0.5 s / (8 × 312 TFLOP/s)
    doc = json.loads(ok("mfu", "--preset", "gpt2", "--seq-len", "1024", "--batch", "16",
                        "--step-time", "1/2", "--devices", "8", "--peak-tflops", "312",
                        "-f", "json").stdout)
    assert doc["device"] == "custom"
    assert Fraction(doc["rows"][0]["utilisation_exact"]) == Fraction(
        SEQ_TRAIN * 16 * 2, 8 * 312 * 10 ** 12)
