"""The budget, finished (issue 12): the inference budget sweeps like the training budget, every
CSV column holds one quantity of one type (integer columns stay integers for pandas), every
estimate has an exact form beside its float (none prints ``None``), the budget JSON states its
conventions, and a sweep never hides its own swept columns. Expected numbers are worked out
here from the model's sizes and the devices' published figures."""

import csv
import io
import json
import re
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from cli_helpers import invoke

D, L, F, V = 768, 12, 3072, 50257
A100_BF16, H100_BF16 = 312 * 10 ** 12, Fraction("989.4e12")     # dense, FLOP/s
A100_GBS, H100_GBS = 2039, 3350                                 # GB/s


def forward(tokens, keys):
    """A GPT-2 small sequence's forward matmul FLOPs, dense attention over ``keys``."""
    macs = D * 3 * D + D * D + 2 * D * F
    return 2 * (tokens * L * (macs + 2 * keys * D) + tokens * D * V)


def generate(prompt, new):
    """One sequence's generate FLOPs: the prefill, then new-1 decode steps (KV cache)."""
    return forward(prompt, prompt) + sum(forward(1, prompt + t) for t in range(1, new))


def ok(*args, env=None):
    result = invoke(*args, env=env)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def csv_rows(text):
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    return list(csv.DictReader(io.StringIO("\n".join(lines))))


# ------------------------------------------------------------------ item 1: inference sweeps

def test_the_inference_budget_sweeps_batch_prompt_and_new_tokens():
    doc = json.loads(ok("budget", "--tokens", "1280", "--batch", "1,3", "--prompt", "10,20",
                        "--new-tokens", "3,7", "-f", "json"))
    inference = doc["inference"]
    assert inference["columns"] == ["batch", "prompt", "new_tokens"]
    assert [r["point"] for r in inference["rows"]] == [
        [b, p, n] for b in (1, 3) for p in (10, 20) for n in (3, 7)]
    for r in inference["rows"]:
        batch, prompt, new = r["point"]
        assert (r["batch"], r["prompt"], r["new_tokens"]) == (batch, prompt, new)
        assert r["flops"] == batch * generate(prompt, new)
        assert Fraction(r["flops_per_generated_token"]) == Fraction(r["flops"], batch * new)
        seconds = Fraction(r["seconds_exact"])
        assert Fraction(r["seconds_per_generated_token_exact"]) * batch * new == seconds
        assert seconds > Fraction(r["prefill_seconds_exact"]) > 0
    # the batch sizes no training sequence: the training part is one point, as without it
    assert doc["columns"] == [] and len(doc["rows"]) == 1
    assert doc["rows"][0]["flops"] == 10 * 3 * forward(128, 128)


def test_a_point_of_the_inference_sweep_is_the_budget_of_that_point():
    sweep = json.loads(ok("budget", "--tokens", "1280", "--prompt", "16,40", "--new-tokens",
                          "5", "-f", "json"))["inference"]["rows"][1]
    one = json.loads(ok("budget", "--tokens", "1280", "--prompt", "40", "--new-tokens", "5",
                        "-f", "json"))["inference"]
    assert {k: v for k, v in sweep.items() if k != "point"} == one
    assert one["flops"] == generate(40, 5)


def test_a_memory_bound_request_takes_bandwidth_inverse_time_on_each_device():
    # GPT-2 small decoding one sequence moves each weight once per token: every operation is
    # far below both ridge points (312e12/2039e9 ≈ 153, 989.4e12/3350e9 ≈ 295 FLOP/byte), so
    # the roofline time is bytes / bandwidth and the devices' times are in the inverse ratio
    rows = json.loads(ok("budget", "--tokens", "1280", "--prompt", "4", "--new-tokens", "6",
                         "--device", "a100,h100", "-f", "json"))["inference"]["rows"]
    assert [r["point"] for r in rows] == [["a100"], ["h100"]]
    a100, h100 = (Fraction(r["seconds_exact"]) for r in rows)
    assert a100 / h100 == Fraction(H100_GBS, A100_GBS)
    assert rows[0]["flops"] == rows[1]["flops"] == generate(4, 6)


def test_the_inference_sweep_table_names_what_it_swept_and_its_conventions():
    text = " ".join(ok("budget", "--tokens", "1280", "--prompt", "10,20", "-f",
                       "markdown").split())
    assert "Inference budget sweep (2 points)" in text
    assert "Swept: prompt 10, 20." in text and "2 FLOPs per multiply-add" in text
    rows = csv_rows(ok("budget", "--tokens", "1280", "--prompt", "10,20", "--table",
                       "inference-sweep", "-f", "csv"))
    assert [int(r["request FLOPs"]) for r in rows] == [generate(10, 1), generate(20, 1)]


def test_batch_alone_still_does_not_sweep_a_training_budget():
    from cli_helpers import one_line_error

    assert "--prompt" in one_line_error(invoke("budget", "--tokens", "1280", "--batch", "1,2"))


# ------------------------------------------------------------------ item 2: one type per column

FIGURES = Path(__file__).parent / "fixtures" / "figures"
CSV_COMMANDS = [
    ("flops",), ("flops", "--mode", "generate", "--prompt", "3", "--new-tokens", "3"),
    ("flops", "--mode", "decode", "--position", "100"), ("flops", "--preset", "gemma-2-9b"),
    ("flops", "--flops-per-mac", "1", "--elementwise"), ("flops", "--preset", "llama-3.1-8b"),
    ("params",), ("params", "--preset", "llama-3.1-8b"), ("shapes",), ("presets",),
    ("memory",), ("memory", "--table", "roofline"), ("compare",), ("frameworks",),
    ("frameworks", "--table", "terms"), ("mfu", "--tokens-per-second", "1000"),
    ("sweep", "--seq-len", "128,256"), ("sweep", "--d-model", "768,1536"),
    ("budget", "--tokens", "1280"), ("budget", "--tokens", "1280", "--table", "inference"),
    ("budget", "--tokens", "1280", "--price", "2"),
    ("budget", "--tokens", "1280", "--devices", "1,2", "--price", "2"),
    ("budget", "--tokens", "1280", "--prompt", "8,16", "--table", "inference-sweep"),
    ("verify", "--n-layers", "1", "--seq-len", "8"),
    ("memory", "--table", "per-op"), ("memory", "--mode", "train", "--table", "activations"),
    ("memory", "--preset", "mixtral-8x7b", "--table", "per-op"),
    ("sweep", "--mode", "generate", "--prompt", "10", "--new-tokens", "3,7"),
    ("sweep", "--preset", "mixtral-8x7b", "--seq-len", "128,256"),
    ("audit", "--claims", "gpt2-document"), ("audit", "--claims", "gpt2-document", "--table",
                                             "flops"),
    ("audit", FIGURES / "llama-3.1-8b.md", "--preset", "llama-3.1-8b", "--seq-len", "2048",
     "--table", "figures"),
]
INTEGER = re.compile(r"-?[0-9]+")


def csv_of(args):
    """The CSV a command writes (an audit that finds something wrong exits 1: still a CSV)."""
    result = invoke(*args, "-f", "csv")
    assert result.exit_code == (1 if args[0] == "audit" else 0), result.stderr
    return result.stdout


def integer_columns(text):
    """The columns whose every cell is a whole number, and those where some cells are whole
    numbers and the others empty (which pandas would read as float64)."""
    rows = csv_rows(text)
    whole, holed = [], []
    for column in rows[0]:
        cells = [r[column] for r in rows]
        filled = [c for c in cells if c != ""]
        if filled and all(INTEGER.fullmatch(c) for c in filled):
            (whole if len(filled) == len(cells) else holed).append(column)
    return whole, holed


@pytest.mark.parametrize("args", CSV_COMMANDS, ids=lambda args: " ".join(map(str, args)))
def test_no_integer_column_of_a_csv_has_an_empty_cell(args):
    whole, holed = integer_columns(csv_of(args))
    assert holed == []


def test_the_flops_csv_counts_the_one_block_row_and_gives_per_token_a_column():
    rows = csv_rows(ok("flops", "-f", "csv"))
    one = next(r for r in rows if r["operation"] == "one block")
    block = L and 2 * 128 * (D * 3 * D + D * D + 2 * D * F + 2 * 128 * D)
    assert one["FLOPs"] == one["model FLOPs"] == str(block)
    total = rows[-1]
    assert total["operation"] == "total" and total["computes"] == ""
    assert total["model FLOPs per token"] == str(forward(128, 128) // 128)
    assert one["model FLOPs per token"] == str(block // 128)
    whole, _ = integer_columns(ok("flops", "-f", "csv"))
    assert {"FLOPs", "model FLOPs", "model FLOPs per token"} <= set(whole)


@pytest.mark.parametrize("args", CSV_COMMANDS, ids=lambda args: " ".join(map(str, args)))
def test_pandas_reads_every_integer_column_as_int64(args):
    pd = pytest.importorskip("pandas")
    text = csv_of(args)
    whole, _ = integer_columns(text)
    frame = pd.read_csv(io.StringIO(text), comment="#")
    assert {c: str(frame[c].dtype) for c in whole} == {c: "int64" for c in whole}


def test_an_integer_beyond_int64_is_read_whole_by_pandas_not_as_a_float():
    pd = pytest.importorskip("pandas")
    tokens = 10 ** 30
    text = ok("budget", "--tokens", str(tokens), "--devices", "1,2", "-f", "csv")
    frame = pd.read_csv(io.StringIO(text), comment="#")
    flops = -(-tokens // 128) * 3 * forward(128, 128)
    assert str(frame["training FLOPs"].dtype) != "float64"
    assert [int(v) for v in frame["training FLOPs"]] == [flops, flops]


# ------------------------------------------------------------------ item 3: exact estimates

def test_the_budget_json_has_exact_device_hours_and_cost_and_its_conventions():
    doc = json.loads(ok("budget", "--tokens", "1280", "--devices", "8", "--device", "h100",
                        "--mfu", "40%", "--price", "2.5", "-f", "json"))
    t = doc["training"]
    flops = 10 * 3 * forward(128, 128)
    seconds = Fraction(flops) / (8 * H100_BF16 * Fraction(2, 5))
    assert t["flops"] == flops and Fraction(t["seconds_exact"]) == seconds
    assert Fraction(t["device_hours_exact"]) == seconds * 8 / 3600
    assert Fraction(t["cost_exact"]) == seconds * 8 / 3600 * Fraction(5, 2)
    assert doc["conventions"]["flops_per_mac"] == 2
    assert doc["conventions"]["attention"] == "dense"
    assert "2 FLOPs per multiply-add" in doc["conventions"]["description"]
    i = doc["inference"]
    assert Fraction(i["prefill_seconds_exact"]) == Fraction(i["seconds_exact"])  # 1 new token
    sweep = json.loads(ok("budget", "--tokens", "1280", "--devices", "1,2", "--price", "3",
                          "-f", "json"))
    assert sweep["conventions"]["flops_per_mac"] == 2
    for r in sweep["rows"]:
        hours = Fraction(flops) / (r["devices"] * A100_BF16 * Fraction(2, 5)) * r["devices"] / 3600
        assert Fraction(r["device_hours_exact"]) == hours
        assert Fraction(r["cost_exact"]) == 3 * hours


def test_estimates_beyond_a_double_are_written_exactly_rounded_not_none():
    tokens = 10 ** 400    # the time overflows a double: ~2e387 s at the A100's 312 TFLOP/s
    seconds = Fraction(-(-tokens // 128) * 3 * forward(128, 128)) / (A100_BF16 * Fraction(2, 5))
    hours = seconds / 3600
    assert seconds > Fraction(10) ** 308
    text = ok("budget", "--tokens", str(tokens), "--price", "2", "-f", "csv")
    assert "None" not in text
    row = csv_rows(text)[0]
    for column, exact in (("time (s)", seconds), ("device-hours", hours), ("cost", 2 * hours)):
        written = Fraction(Decimal(row[column]))
        assert abs(written - exact) / exact < Fraction(1, 10 ** 16)
    sweep = ok("budget", "--tokens", str(tokens), "--devices", "1,2", "-f", "csv")
    assert "None" not in sweep
    doc = json.loads(ok("budget", "--tokens", str(tokens), "-f", "json"))
    assert doc["training"]["seconds"] is None                      # no double is near it
    assert Fraction(doc["training"]["seconds_exact"]) == seconds   # the exact value is


def test_the_inference_note_states_two_flops_per_multiply_add():
    text = " ".join(ok("budget", "--tokens", "1280", "--table", "inference", "-f",
                       "markdown").split())
    assert "matmuls only, 2 FLOPs per multiply-add" in text


# ------------------------------------------------------------------ item 4: swept columns stay

@pytest.mark.parametrize("args", [
    ("--tokens", "1280", "--devices", "8,64", "--device", "a100,h100", "--mfu", "35%,40%"),
    ("--tokens", "1280", "--d-model", "768,1536", "--device", "a100,h100", "--price", "2,3",
     "--devices", "8,64"),   # at 80 columns this dropped its swept device column
    ("--tokens", "1280", "--batch", "1,4", "--prompt", "64,128", "--new-tokens", "2,4",
     "--device", "a100,h100"),
])
def test_a_budget_sweep_never_leaves_out_a_swept_column(args, monkeypatch):
    from flopcalc import cli, render

    doc = json.loads(ok("budget", *args, "-f", "json"))
    swept = set(doc["columns"]) | set(doc.get("inference", {}).get("columns", []))
    for width in (60, 80, 100):
        text = ok("budget", *args, env={"COLUMNS": str(width), "TERMINAL_WIDTH": str(width)})
        assert max(map(len, text.splitlines())) <= width
        hidden = re.findall(r"Not shown at \d+ columns: (.*?); --format", " ".join(text.split()))
        assert not swept & {c for h in hidden for c in h.split(", ")}, (width, hidden)
    built = []
    monkeypatch.setattr(cli, "emit", lambda tables, *rest: built.extend(tables))
    ok("budget", *args)
    assert {t.name for t in built} >= {"training-sweep"}
    for t in built:
        assert set(t.keep) == {n for n in t.columns if n in swept}
        for width in range(40, 201):   # kept at every width, or the rows are stacked
            layout = render.fit(t, width)
            assert layout.stacked or set(t.keep) <= {t.columns[i] for i in layout.keep}


# ------------------------------------------------------------------ item 5: peaks at the vendor

def test_the_peaks_confirmed_at_the_vendor_are_the_vendors_figures():
    from flopcalc.memory import DEVICES

    def figures(name):
        d = DEVICES[name]
        return {k: str(v) for k, v in d.peak_tflops.items()}, d.bandwidth_gbs
    # AMD ROCm documentation, "Peak-performance capabilities of the MI300X": matrix FP16 and
    # BF16 2,048 FLOPS/clock/CU, FP32 256, INT8 4,096, over 304 CUs at 2.1 GHz; 5.3 TB/s
    def tflops_tenths(per_clock_per_cu):   # × 304 CUs × 2.1 GHz, in 0.1 TFLOPS, half up
        return (per_clock_per_cu * 304 * 21 + 500) // 1000
    assert [tflops_tenths(n) for n in (2048, 256, 4096)] == [13074, 1634, 26149]
    assert figures("mi300x") == ({"bf16": "6537/5", "fp16": "6537/5", "fp32": "817/5",
                                  "int8": "26149/10"}, 5300)
    # Google's Cloud TPU pages: v5e 197 TFLOPS bf16, 393 TOPS int8, 819 GBps; v5p 459 TFLOPS
    # bf16, 2,765 GBps; v4 275 TFLOPS (bf16 or int8), 1,200 GBps
    assert figures("tpu-v5e") == ({"bf16": "197", "int8": "393"}, 819)
    assert figures("tpu-v5p") == ({"bf16": "459"}, 2765)
    assert figures("tpu-v4") == ({"bf16": "275", "int8": "275"}, 1200)


def test_the_nvidia_peaks_are_the_dense_figures_nvidia_prints():
    """Each NVIDIA preset against NVIDIA's own tables (docs/memory.md, "What could be
    confirmed"): the dense figure where the document prints one, else half the figure it
    prints "with sparsity"; FP32 is CUDA-core FP32, which has no sparse form."""
    from flopcalc.memory import DEVICES

    def figures(name):
        d = DEVICES[name]
        return {k: Fraction(v) for k, v in d.peak_tflops.items()}, d.bandwidth_gbs

    def dense(sparse):          # NVIDIA: "one-half lower without sparsity"
        return Fraction(str(sparse)) / 2

    # A100 datasheet, 80GB SXM: BFLOAT16 and FP16 Tensor Core 312 | 624*, FP32 19.5,
    # INT8 Tensor Core 624 | 1248* TOPS, 2,039 GB/s (* with sparsity)
    assert figures("a100") == ({"bf16": dense(624), "fp16": dense(624), "fp32": Fraction("19.5"),
                                "int8": dense(1248)}, 2039)
    # H100 whitepaper V1.04, Tables 1 and 3: BF16 989.4/1978.9, INT8 1978.9/3957.8 (dense/
    # sparse), FP32 66.9 (datasheet: 67); datasheet 3.35 TB/s
    h100 = ({"bf16": Fraction("989.4"), "fp16": Fraction("989.4"), "fp32": Fraction("66.9"),
             "int8": Fraction("1978.9")}, 3350)
    # both dense figures are the sparse ones halved, to the 0.1 NVIDIA prints
    assert abs(dense("1978.9") - h100[0]["bf16"]) < Fraction(1, 10)
    assert dense("3957.8") == h100[0]["int8"]
    assert figures("h100") == h100
    # H200 datasheet: the H100 SXM's tensor and FP32 figures, with 4.8 TB/s
    assert figures("h200") == (h100[0], 4800)
    # H100 whitepaper V1.04 Table 1, PCIe column: BF16 756 | 1513 (dense | sparse); the
    # datasheet's INT8 3,026 TOPS with sparsity; 2,000 GB/s (product brief PB-11133-001).
    # FP32 51 TFLOPS as the datasheet prints it; a cross-check: 14,592 FP32 cores × 2 FLOPs
    # per FMA at the 1,755 MHz boost clock round to it, as the SXM's 16,896 cores at 1,980 MHz
    # give its 66.9
    def fp32_tenths(cores, mhz):        # MFLOP/s to tenths of a TFLOP/s, halves up
        return (cores * 2 * mhz + 50_000) // 100_000
    assert Fraction(fp32_tenths(16_896, 1980), 10) == h100[0]["fp32"]
    assert round(Fraction(fp32_tenths(14_592, 1755), 10)) == 51
    assert figures("h100-pcie") == ({"bf16": Fraction(756), "fp16": Fraction(756),
                                     "fp32": Fraction(51), "int8": dense(3026)}, 2000)
    # Blackwell Technical Brief V2.1 Table 3, HGX B200 per GPU: FP16/BF16 4.5 PFLOPS and INT8
    # 9 POPS with sparsity, FP32 75 TFLOPS, HBM3e at 7.7 TB/s
    assert figures("b200") == ({"bf16": dense(4500), "fp16": dense(4500), "fp32": Fraction(75),
                                "int8": dense(9000)}, 7700)
    # L4 datasheet: BF16 and FP16 242*, INT8 485* TOPS, FP32 30.3, 300 GB/s
    assert figures("l4") == ({"bf16": dense(242), "fp16": dense(242), "fp32": Fraction("30.3"),
                              "int8": dense(485)}, 300)
    # Ada whitepaper, Appendix A (RTX 4090): BF16 and FP16 with FP32 accumulate 165.2/330.4,
    # FP32 82.6, INT8 660.6/1321.2; 1,008 GB/s
    assert figures("rtx4090") == ({"bf16": dense("330.4"), "fp16": dense("330.4"),
                                   "fp32": Fraction("82.6"), "int8": dense("1321.2")}, 1008)
