"""Per-token figures next to every FLOP total (issue 12, item 1), exact where they are not
whole, and --n-layers above a model's own laying its family's window pattern over the new
layers (issue 9). Every expected number is worked out here from the model's sizes."""

import csv
import io
import json
from fractions import Fraction

import pytest
from cli_helpers import invoke, one_line_error

from flopcalc.tables import exact_cell, exact_text

D, L, F, V = 768, 12, 3072, 50257
MACS = D * 3 * D + D * D + 2 * D * F  # projections and MLP, per token and block


def forward(tokens, keys, d=D, layers=L, ff=F, vocab=V):
    """A GPT-2's forward matmul FLOPs, dense attention: QKᵀ and P·V over ``keys``."""
    macs = d * 3 * d + d * d + 2 * d * ff
    return 2 * (tokens * layers * (macs + 2 * keys * d) + tokens * d * vocab)


def ok(*args):
    result = invoke(*args)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def csv_rows(text):
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    return list(csv.DictReader(io.StringIO("\n".join(lines))))


def notes(text):
    return " ".join(line[2:] for line in text.splitlines() if line.startswith("# "))


# ------------------------------------------------------------------ exact per-token text

@pytest.mark.parametrize("x, text", [
    (Fraction(1_234_567), "1,234,567"), (Fraction(5, 2), "2.5"), (Fraction(1, 8), "0.125"),
    (Fraction(-1, 4), "-0.25"), (Fraction(7, 3), "7/3"), (Fraction(10_001, 6), "10,001/6"),
])
def test_a_ratio_is_written_whole_as_a_decimal_that_ends_or_as_a_fraction(x, text):
    assert exact_text(x) == text


def test_a_csv_rounds_only_a_decimal_that_does_not_end_half_up_to_three_places():
    assert exact_cell(Fraction(7, 3)).plain == "2.333"
    assert exact_cell(Fraction(2, 3)).plain == "0.667"
    assert exact_cell(Fraction(1, 8)).plain == "0.125"
    assert exact_cell(Fraction(1_000_000, 1)).plain == "1000000"


# ------------------------------------------------------------------ flopcalc flops

def test_the_flops_table_states_the_total_per_token_of_every_mode():
    each = forward(128, 128) // 128
    assert forward(128, 128) % 128 == 0
    text = ok("flops")
    assert "Per token: 251,782,656 FLOPs = the total ÷ the 128 tokens of the batch" in \
        " ".join(text.split())
    assert each == 251_782_656
    train = ok("flops", "--mode", "train", "--seq-len", "1024", "-f", "csv")
    # the per-token figure has a CSV column of its own (issue 12), no longer the computes cell
    assert csv_rows(train)[-1]["model FLOPs per token"] == str(3 * forward(1024, 1024) // 1024)
    assert csv_rows(train)[-1]["computes"] == ""
    decode = ok("flops", "--mode", "decode", "--position", "200", "--batch", "4", "-f", "csv")
    assert csv_rows(decode)[-1]["model FLOPs per token"] == str(forward(1, 200))  # each sequence's
    assert "the 4 new tokens (one per sequence, B)" in notes(decode)
    backward = ok("flops", "--mode", "backward", "-f", "markdown")
    assert f"{2 * forward(128, 128) // 128:,} per token (÷ 128)" in backward


def test_a_per_token_figure_that_is_not_whole_is_an_exact_fraction():
    small = ("--d-model", "64", "--n-heads", "2", "--n-layers", "1", "--d-ff", "256",
             "--vocab", "50", "--n-positions", "16", "--seq-len", "8")
    total = sum(forward(t, k, 64, 1, 256, 50) for t, k in ((3, 3), (1, 4), (1, 5)))
    assert total % 3                                          # 3 generated tokens
    args = ("flops", *small, "--mode", "generate", "--prompt", "3", "--new-tokens", "3")
    rows = csv_rows(ok(*args, "-f", "csv"))
    assert rows[-1]["FLOPs"] == str(total)
    assert rows[-1]["model FLOPs per token"] == f"{total}/3"
    assert f"{total:,}/3 per token (÷ 3)" in ok(*args, "-f", "markdown")
    doc = json.loads(ok(*args, "-f", "json"))
    assert doc["per_token"]["total_exact"] == f"{total}/3"
    assert doc["totals_per_token"]["total"] == f"{total}/3"


# ------------------------------------------------------------------ the other FLOP tables

def test_the_sweep_has_a_per_token_column_in_every_format():
    rows = csv_rows(ok("sweep", "--seq-len", "128,256", "--batch", "1,3", "-f", "csv"))
    for r in rows:
        seq = int(r["seq_len"])
        assert r["FLOPs per token"] == str(forward(seq, seq) // seq)
    gen = json.loads(ok("sweep", "--mode", "generate", "--prompt", "10", "--new-tokens", "3,7",
                        "-f", "json"))["rows"]
    total = sum(forward(1 if t else 10, 10 + t) for t in range(7))  # prefill, 6 steps
    assert gen[1]["total"] == total and total % 7
    assert gen[1]["per_token"] == f"{total}/7"


def test_the_roofline_overview_has_the_flops_per_token_of_each_computation():
    rows = csv_rows(ok("memory", "--table", "roofline", "-f", "csv"))
    assert [r["FLOPs per token"] for r in rows] == [
        str(forward(128, 128) // 128), str(3 * forward(128, 128) // 128), str(forward(1, 128))]


def test_compare_gives_each_estimate_and_exact_count_per_token():
    rows = {r["estimate"]: r for r in csv_rows(ok("compare", "-f", "csv"))}
    # Kaplan's N: each block's weights, biases and LayerNorms, and ln_f
    n_kaplan = L * (4 * D * D + 4 * D + 2 * D * F + F + D + 4 * D) + 2 * D
    assert rows["2N"]["estimate per token"] == str(2 * n_kaplan)
    assert rows["2N"]["exact per token"] == str(2 * L * (MACS + 2 * 128 * D))


def test_budget_and_mfu_give_the_exact_flops_per_token():
    step = 3 * forward(128, 128)
    budget = csv_rows(ok("budget", "--tokens", "1280", "-f", "csv"))   # one row, a column each
    assert budget[0]["training FLOPs per token"] == str(step // 128)
    doc = json.loads(ok("budget", "--tokens", "1280", "--prompt", "10", "--new-tokens", "7",
                        "-f", "json"))
    assert doc["training"]["flops_per_token"] == str(step // 128)
    total = sum(forward(1 if t else 10, 10 + t) for t in range(7))
    assert doc["inference"]["flops_per_generated_token"] == f"{total}/7"
    mfu = csv_rows(ok("mfu", "--tokens-per-second", "1000", "-f", "csv"))
    assert mfu[0]["FLOPs per token"] == str(step // 128)


# ------------------------------------------------------------------ --n-layers above a model's own

def groups(*args):
    doc = json.loads(ok("flops", *args, "-f", "json"))
    return {g["name"]: g["repeat"] for g in doc["totals"]["groups"]
            if g["name"] not in ("embedding", "head")}


def test_more_layers_than_gemma_2_s_own_keep_alternating_sliding_and_full():
    assert groups("--preset", "gemma-2-9b") == {"sliding": 21, "full": 21}
    assert groups("--preset", "gemma-2-9b", "--n-layers", "44") == {"sliding": 22, "full": 22}
    assert groups("--preset", "gemma-2-9b", "--n-layers", "45") == {"sliding": 23, "full": 22}
    assert groups("--preset", "gemma-2-9b", "--n-layers", "3") == {"sliding": 2, "full": 1}
    d, q, kv, ff = 3584, 16 * 256, 8 * 256, 14336
    block = d * q + 2 * d * kv + q * d + 3 * d * ff + 4 * d   # q, k, v, o, MLP, four norms
    params = json.loads(ok("params", "--preset", "gemma-2-9b", "--n-layers", "44", "-f",
                           "json"))["totals"]["total"]
    assert params == 9_241_705_984 + 2 * block


def test_more_layers_than_a_qwen2_config_s_keep_the_window_from_max_window_layers_on(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "qwen2", "num_hidden_layers": 4,
                                "use_sliding_window": True, "sliding_window": 8,
                                "max_window_layers": 2, "hidden_size": 64,
                                "num_attention_heads": 4, "intermediate_size": 128,
                                "vocab_size": 100}))
    assert groups("--config", str(path), "--seq-len", "16") == {"full": 2, "sliding": 2}
    assert groups("--config", str(path), "--seq-len", "16", "--n-layers", "7") == \
        {"full": 2, "sliding": 5}
    assert groups("--config", str(path), "--seq-len", "16", "--n-layers", "3") == \
        {"full": 2, "sliding": 1}


def qwen2_with_layer_types(tmp_path, types):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "qwen2", "num_hidden_layers": len(types),
                                "use_sliding_window": True, "sliding_window": 8,
                                "hidden_size": 64, "num_attention_heads": 4,
                                "intermediate_size": 128, "vocab_size": 100,
                                "layer_types": types}))
    return str(path)


def test_more_layers_than_an_explicit_periodic_layer_types_list_repeat_its_pattern(tmp_path):
    """sliding, full, full listed twice: 10 layers are s f f s f f s f f s, 4 sliding."""
    from flopcalc.architectures.presets import make_architecture

    s, f = "sliding_attention", "full_attention"
    path = qwen2_with_layer_types(tmp_path, [s, f, f, s, f, f])
    assert make_architecture(config=path, n_layers=10).window_layers == (0, 3, 6, 9)
    assert groups("--config", path, "--seq-len", "16", "--n-layers", "10") == \
        {"sliding": 4, "full": 6}
    assert make_architecture(config=path, n_layers=4).window_layers == (0, 3)   # the first 4
    # Gemma-2's alternating list, written out, repeats as Gemma-2's own rule lays it
    alternating = qwen2_with_layer_types(tmp_path, [s, f] * 3)
    assert make_architecture(config=alternating, n_layers=9).window_layers == (0, 2, 4, 6, 8)


def test_more_layers_than_a_layer_types_list_with_no_pattern_are_refused(tmp_path):
    """full, full, sliding, sliding (max_window_layers 2 written out) repeats nothing: the
    kind of a fifth layer is unknown."""
    s, f = "sliding_attention", "full_attention"
    path = qwen2_with_layer_types(tmp_path, [f, f, s, s])
    line = one_line_error(invoke("params", "--config", path, "--n-layers", "6"))
    assert "layer_types" in line and "no repeating pattern" in line
    assert groups("--config", path, "--seq-len", "16", "--n-layers", "3") == \
        {"full": 2, "sliding": 1}


def test_a_swept_n_layers_past_a_layer_types_list_with_no_pattern_is_an_invalid_point(tmp_path):
    """full, full, sliding, sliding says nothing of a fifth layer: in a sweep of n_layers
    2…6, n_layers 5 and 6 are invalid points, skipped and counted with --skip-invalid like
    any other, else the sweep stops in one line naming the first."""
    s, f = "sliding_attention", "full_attention"
    path = qwen2_with_layer_types(tmp_path, [f, f, s, s])
    args = ("sweep", "--config", path, "--n-layers", "2:6:+1", "--seq-len", "16")
    text = ok(*args, "--skip-invalid", "-f", "csv")
    notes = [line for line in text.splitlines() if line.startswith("#")]
    assert any("Skipped 2 invalid points (--skip-invalid), the first n_layers=5" in n
               for n in notes)
    rows = list(csv.DictReader(line for line in text.splitlines() if not line.startswith("#")))
    assert [int(r["n_layers"]) for r in rows] == [2, 3, 4]
    # each layer more: q, k, v, o (64 -> 64), the gated MLP (64 -> 128, three matmuls) and
    # dense scores and values (4 heads of 16, 16 x 16), at 16 tokens and 2 FLOPs a MAC
    L, D, F, H, dh = 16, 64, 128, 4, 16
    layer = 4 * 2 * L * D * D + 3 * 2 * L * D * F + 2 * 2 * H * L * L * dh
    totals = [int(r["total FLOPs"]) for r in rows]
    assert [b - a for a, b in zip(totals, totals[1:])] == [layer, layer]
    for fmt in ("table", "csv", "json"):
        line = one_line_error(invoke(*args, "-f", fmt))
        assert line.startswith("flopcalc: error: sweep point n_layers=5: ") \
            and "layer_types" in line and "no repeating pattern" in line


def test_mistral_windows_every_layer_at_any_number_of_layers():
    from flopcalc.architectures.presets import make_architecture

    for n in (2, 32, 40):
        assert make_architecture("mistral-7b-v0.1", n_layers=n).n_windowed == n


# ------------------------------------------------------------------ budget sweeps (issue 12, item 4)

A100_BF16 = 312 * 10 ** 12      # NVIDIA's dense BF16 figure, FLOP/s


def test_a_budget_sweeps_devices_and_mfu_with_exact_flops_and_estimated_times():
    step = 3 * forward(128, 128)                      # one sequence of 128 tokens
    doc = json.loads(ok("budget", "--tokens", "1280", "--devices", "1,2", "--mfu", "40%,50%",
                        "-f", "json"))
    assert doc["schema"] == "flopcalc.budget_sweep" and doc["columns"] == ["devices", "mfu"]
    assert [r["point"] for r in doc["rows"]] == [[1, "2/5"], [1, "1/2"], [2, "2/5"], [2, "1/2"]]
    for r in doc["rows"]:
        devices, mfu = r["point"][0], Fraction(r["point"][1])
        assert r["sequences"] == 10 and r["flops"] == 10 * step
        assert r["flops_per_token"] == str(step // 128)
        seconds = Fraction(10 * step) / (devices * A100_BF16 * mfu)
        assert Fraction(r["seconds_exact"]) == seconds       # time × devices × peak × MFU = FLOPs
        assert r["device_hours"] == pytest.approx(float(seconds * devices / 3600))


def test_a_budget_sweeps_model_sizes_and_devices_at_twenty_tokens_per_parameter():
    def params(d):       # GPT-2 with d_model d, 12 heads, 12 blocks, tied head
        return V * d + 1024 * d + L * (12 * d * d + 13 * d) + 2 * d
    assert params(768) == 124_439_808                 # the published count
    rows = csv_rows(ok("budget", "--d-model", "768,1536", "--chinchilla", "--device", "a100,h100",
                       "-f", "csv"))
    assert [(r["d_model"], r["device"]) for r in rows] == [
        ("768", "a100"), ("768", "h100"), ("1536", "a100"), ("1536", "h100")]
    assert [int(r["tokens"]) for r in rows] == [20 * params(768)] * 2 + [20 * params(1536)] * 2
    a100, h100 = float(rows[0]["time (s)"]), float(rows[1]["time (s)"])
    assert a100 / h100 == pytest.approx(989.4 / 312)  # the same FLOPs at each device's peak


@pytest.mark.parametrize("args, says", [
    (("--tokens", "1280", "--batch", "1,2"), "--batch"),
    (("--chinchilla", "--tokens", "1000,2000"), "--chinchilla"),
    # (--prompt 8 with --devices 1,2 was refused before the inference budget was sweepable)
    (("--tokens", "1280", "--devices", "1,2", "--prompt", "8,x"), "--prompt"),
    (("--tokens", "1280", "--new-tokens", "30000:32768:+1"), "decode steps"),
    (("--tokens", "1280", "--mfu", "40%,"), "--mfu"),
    (("--tokens", "1280", "--device", "a100,h100", "--peak-tflops", "100"), "--peak-tflops"),
])
def test_a_budget_sweep_refuses_what_it_cannot_sweep_in_one_line(args, says):
    from cli_helpers import one_line_error

    assert says in one_line_error(invoke("budget", *args))


# ------------------------------------------------------------------ small leftovers

def test_help_to_a_closed_stdout_is_one_line_and_exit_2():
    import subprocess
    import sys

    for args in ("--help", "flops --help"):
        run = subprocess.run(f'"{sys.executable}" -m flopcalc {args} >&-', shell=True,
                             stderr=subprocess.PIPE, text=True, timeout=120)
        assert run.returncode == 2, run.stderr
        assert run.stderr.splitlines() == ["flopcalc: error: cannot write standard output: "
                                           "it is closed"]


def test_the_audit_note_is_said_once_on_a_terminal():
    import os
    import pty
    import subprocess
    import sys

    leader, follower = pty.openpty()
    run = subprocess.run([sys.executable, "-m", "flopcalc", "audit", "-"], input=b"2 + 2 = 4\n",
                         stdout=follower, stderr=subprocess.PIPE, timeout=120,
                         env={**os.environ, "COLUMNS": "200"})
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    assert run.returncode == 0 and b"no shipped claims file" in shown
    assert b"no shipped claims file" not in run.stderr        # the table's notes say it
    piped = invoke("audit", "-", input="2 + 2 = 4\n")          # not a terminal: stderr too
    assert "no shipped claims file" in piped.stderr


def test_a_decode_step_s_mask_is_listed_as_masking_nothing():
    decode = ok("shapes", "--mode", "decode", "-f", "markdown")
    mask = next(line for line in decode.splitlines() if "| causal_mask |" in line)
    assert "nothing masked" in mask and "j>i" not in mask
    forward = ok("shapes", "-f", "markdown")
    assert "S[i, j>i] = −∞" in next(line for line in forward.splitlines()
                                    if "| causal_mask |" in line)


def test_blocks_are_counted_in_one_wording():
    from flopcalc.tables import blocks

    assert [blocks(1), blocks(12), blocks(21, "sliding"), blocks(1, one="one")] == [
        "1 block", "12 blocks", "21 sliding blocks", "one block"]


def test_the_formulas_give_the_whole_model_per_token():
    import sympy as sp

    doc = json.loads(ok("formulas", "-f", "json"))["per_token"]
    assert doc["tokens"] == "B*L"
    at = {sp.Symbol(k): v for k, v in dict(d_model=D, n_layers=L, d_ff=F, V=V, L=128).items()}
    assert sp.sympify(doc["flops"], locals={k.name: k for k in at}).subs(at) == \
        forward(128, 128) // 128
    decode = json.loads(ok("formulas", "--mode", "decode", "-f", "json"))["per_token"]
    assert decode["tokens"] == "B"


def test_verify_states_both_totals_per_token():
    small = ("--n-layers", "2", "--seq-len", "16", "--d-model", "64", "--n-heads", "2",
             "--vocab", "50")
    full = forward(16, 16, 64, 2, 256, 50) // 16                  # dense: 16 keys per query
    # incremental: query i sees i keys, (16 + 1) / 2 on average, so per token
    incremental = 2 * (2 * (64 * 192 + 64 * 64 + 2 * 64 * 256) + 2 * 2 * 17 * 64 // 2 + 64 * 50)
    assert f"Per token: {full:,} analytical and {full:,} measured FLOPs" in " ".join(
        ok("verify", *small, "-f", "markdown").split())
    assert f"Per token: {incremental:,} analytical and {incremental:,} measured" in " ".join(
        ok("verify", "--mode", "incremental", *small, "-f", "markdown").split())


def test_the_json_schema_doc_s_flops_example_is_real_output():
    """docs/json-schema.md's full `flopcalc flops --format json` example (4 of 8 rows) is what
    the command prints, less the other rows, and its numbers are GPT-2 small's."""
    from pathlib import Path
    text = (Path(__file__).parent.parent / "docs" / "json-schema.md").read_text(encoding="utf-8")
    start = text.index("```json\n", text.index("Example, `flopcalc flops --format json`")) + 8
    doc = json.loads(text[start:text.index("```", start)])
    real = json.loads(invoke("flops", "-f", "json").stdout)
    names = [r["name"] for r in doc["rows"]]
    assert names == ["embed", "qkv_proj", "scores", "lm_head"]
    assert doc == {**real, "rows": [r for r in real["rows"] if r["name"] in names]}
    assert doc["totals"]["total"] == forward(128, 128)
    assert doc["per_token"]["total_exact"] == str(forward(128, 128) // 128)


def test_the_memory_compare_and_verify_json_carry_flops_per_token():
    mem = json.loads(invoke("memory", "--batch", "2", "-f", "json").stdout)["roofline"]
    assert (mem["forward"]["tokens"], mem["forward"]["flops_per_token"]) == (
        256, str(forward(128, 128) // 128))
    assert mem["train"]["flops_per_token"] == str(3 * forward(128, 128) // 128)
    # a decode step at position 128: each of the B = 2 new tokens attends 128 keys
    assert (mem["decode"]["tokens"], mem["decode"]["flops_per_token"]) == (
        2, str(forward(1, 128)))
    cmp = json.loads(invoke("compare", "-f", "json").stdout)
    rows = {r["key"]: r for r in cmp["rows"]}
    # Kaplan's N: every parameter but the token and position tables (biases and norms in)
    n_kaplan = 124_439_808 - V * D - 1024 * D
    assert cmp["tokens"] == 128
    assert rows["kaplan_2n"]["estimate_per_token"] == str(2 * n_kaplan)
    assert rows["kaplan_2n"]["exact_per_token"] == str(L * 2 * (MACS + 2 * 128 * D))
    ver = json.loads(invoke("verify", "--n-layers", "1", "--seq-len", "8", "-f", "json").stdout)
    one_layer = forward(8, 8, layers=1)
    assert ver["totals"]["tokens"] == 8
    assert ver["totals"]["analytical_flops_per_token"] == str(one_layer // 8)
    assert ver["totals"]["measured_flops_per_token"] == str(one_layer // 8)
    assert one_layer % 8 == 0


def test_flops_compare_and_verify_count_a_batch_s_per_token_figures_over_its_b_l_tokens():
    """A forward pass's tokens are B·L in every command: 3 sequences of 8 are 24 tokens,
    said in the same words; per token is one sequence's forward over its 8 tokens."""
    args = ("--batch", "3", "--seq-len", "8", "--n-layers", "1")
    per_token = forward(8, 8, layers=1) // 8
    said = f"÷ the {3 * 8} tokens of the batch (B·L)"
    for command in ("flops", "compare", "verify"):
        assert said in " ".join(ok(command, *args, "-f", "markdown").split()), command
    assert f"B·L = {3 * 8} tokens" in ok("compare", *args, "-f", "markdown")
    cmp = json.loads(ok("compare", *args, "-f", "json"))
    assert cmp["tokens"] == 24
    # each estimate of this batch is a whole number of FLOPs per one of its 24 tokens
    exact = {r["key"]: int(r["exact"]) for r in cmp["rows"]}
    assert all(v % 24 == 0 for v in exact.values())
    assert {r["key"]: r["exact_per_token"] for r in cmp["rows"]} == {
        k: str(v // 24) for k, v in exact.items()}
    ver = json.loads(ok("verify", *args, "-f", "json"))["totals"]
    assert (ver["tokens"], ver["analytical_flops_per_token"]) == (24, str(per_token))
