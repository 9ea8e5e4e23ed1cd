"""`flopcalc verify`: the analytical model against the instrumented NumPy forward pass.

Expected counts are written out from first principles here, never taken from flopcalc's
analytical core.
"""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from cli_helpers import invoke, one_line_error
from flopcalc import cli, reference
from flopcalc import verify as verification
from flopcalc.config import Config, FlopcalcError
from flopcalc.reference import GPTConfig, estimate_memory_bytes, forward_incremental, init_params
from flopcalc.tables import verify_json, verify_table
from flopcalc.verify import VerifyResult, VerifyRow, verify
from fuzz_helpers import examples

BLOCK_FUSED = ["qkv_proj", "scores", "attn_values", "out_proj", "ffn_up", "ffn_down"]
BLOCK_SEPARATE = ["q_proj", "k_proj", "v_proj"] + BLOCK_FUSED[1:]


def expected_flops(c: Config, incremental: bool, flops_per_mac: int) -> dict[str, int]:
    """FLOPs of each matmul of one block (and of the LM head), from first principles."""
    B, L, d, h, f, V = c.batch, c.seq_len, c.d_model, c.n_heads, c.d_ff, c.vocab
    dh = d // h
    # dense: all L x L (query, key) pairs; incremental: token t scores its t keys only
    pairs = L * (L + 1) // 2 if incremental else L * L
    macs = {"scores": B * h * pairs * dh, "attn_values": B * h * pairs * dh,
            "out_proj": B * L * d * d, "ffn_up": B * L * d * f, "ffn_down": B * L * f * d,
            "lm_head": B * L * d * V}
    if c.fused_qkv:
        macs["qkv_proj"] = B * L * d * 3 * d
    else:
        macs.update(q_proj=B * L * d * d, k_proj=B * L * d * d, v_proj=B * L * d * d)
    return {name: flops_per_mac * m for name, m in macs.items()}


def small_config(**changes) -> Config:
    base = dict(d_model=16, n_heads=2, n_layers=1, d_ff=32, vocab=50, n_positions=16,
                seq_len=6, batch=1)
    return Config(**{**base, **changes})


def words(text: str) -> str:
    """Text with its line wrapping undone (rich wraps a table's notes to its width)."""
    return " ".join(text.split())


SMALL = ["--d-model", 16, "--heads", 2, "--layers", 1, "--d-ff", 32, "--vocab", 50,
         "--seq-len", 6]


# ----------------------------------------------------------------------------- the comparison

@settings(max_examples=examples(75), deadline=None)
@given(heads=st.integers(1, 4), d_head=st.integers(1, 8), layers=st.integers(1, 2),
       d_ff=st.integers(1, 40), vocab=st.integers(2, 40), seq_len=st.integers(1, 12),
       batch=st.integers(1, 2), fused=st.booleans(), bias=st.booleans(),
       flops_per_mac=st.sampled_from([1, 2]), mode=st.sampled_from(["full", "incremental"]))
def test_every_matmul_matches_on_random_small_configs(heads, d_head, layers, d_ff, vocab, seq_len,
                                                      batch, fused, bias, flops_per_mac, mode):
    c = Config(d_model=heads * d_head, n_heads=heads, n_layers=layers, d_ff=d_ff, vocab=vocab,
               n_positions=12, seq_len=seq_len, batch=batch, fused_qkv=fused, bias=bias)
    result = verify(c, mode, seed=3, dtype="float64", flops_per_mac=flops_per_mac)
    assert result.ok
    names = BLOCK_FUSED if fused else BLOCK_SEPARATE
    assert [(r.layer, r.name) for r in result.rows] == (
        [(i, n) for i in range(layers) for n in names] + [(None, "lm_head")])
    expected = expected_flops(c, mode == "incremental", flops_per_mac)
    for r in result.rows:
        assert r.analytical_flops == r.measured_flops == expected[r.name]
        assert r.analytical_shape == r.measured_shape
        assert r.analytical_operands == r.measured_operands
        assert r.mismatches == ()


def test_pinned_numbers_of_a_small_incremental_pass():
    # B=2, L=5, d=8, h=2 (d_head=4), d_ff=16, V=11, one block, 2 FLOPs per multiply-add
    c = Config(d_model=8, n_heads=2, n_layers=1, d_ff=16, vocab=11, n_positions=8, seq_len=5,
               batch=2)
    rows = {r.name: r for r in verify(c, "incremental").rows}
    # token t of 5 scores its t cached keys: 1+2+3+4+5 = L(L+1)/2 = 15 pairs per head
    assert rows["scores"].measured_flops == 2 * 2 * 2 * 4 * (5 * 6 // 2) == 480
    assert rows["attn_values"].measured_flops == 480
    assert rows["qkv_proj"].measured_flops == 2 * (2 * 5) * 8 * 24 == 3840
    assert rows["out_proj"].measured_flops == 2 * (2 * 5) * 8 * 8 == 1280
    assert rows["ffn_up"].measured_flops == rows["ffn_down"].measured_flops == 2 * 10 * 8 * 16 == 2560
    assert rows["lm_head"].measured_flops == 2 * 10 * 8 * 11 == 1760
    # shapes are the last step's: one query against all 5 keys
    assert rows["scores"].measured_shape == (2, 2, 1, 5)
    assert rows["scores"].measured_operands == ((2, 2, 1, 4), (2, 2, 4, 5))
    assert rows["attn_values"].measured_operands == ((2, 2, 1, 5), (2, 2, 5, 4))
    assert rows["lm_head"].measured_operands == ((2, 1, 8), (8, 11))
    assert all(r.ok for r in rows.values())
    dense = {r.name: r for r in verify(c, "full").rows}
    assert dense["scores"].measured_flops == 2 * 2 * 2 * 4 * 5 * 5 == 800
    assert dense["scores"].measured_shape == (2, 2, 5, 5)


@pytest.mark.parametrize("kwargs, message", [
    (dict(seed=-1), "seed"), (dict(dtype="float16"), "dtype"), (dict(mode="decode"), "mode")])
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(FlopcalcError, match=message):
        verify(small_config(), **kwargs)


# ----------------------------------------------------------------------------- memory

def test_incremental_memory_estimate_is_close_to_the_measured_peak():
    # Long and narrow: the dense pass's (B, h, L, L) scores would dwarf everything here, the
    # incremental pass's KV caches and logits must be what the estimate counts.
    c = GPTConfig(n_layer=2, n_head=16, n_embd=64, d_ff=256, vocab_size=500, n_positions=256)
    idx = np.random.default_rng(1).integers(0, c.vocab_size, (2, 256))
    forward_incremental(init_params(c), c, idx)  # first run: lazy imports
    tracemalloc.start()
    try:
        forward_incremental(init_params(c), c, idx)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    estimate = estimate_memory_bytes(c, 2, 256, np.float32, incremental=True)
    assert 0.7 < peak / estimate < 1.4
    assert estimate_memory_bytes(c, 2, 256) > 3 * estimate  # the dense one counts the scores
    assert (estimate_memory_bytes(c, 2, 256, np.float64, incremental=True)
            == 2 * estimate)


def test_memory_check_uses_the_estimate_of_the_mode(monkeypatch):
    c = small_config(n_heads=8, seq_len=512, n_positions=512)  # scores: 8 * 512 * 512 floats
    gpt = verification._gpt_config(c)
    dense = estimate_memory_bytes(gpt, 1, 512)
    incremental = estimate_memory_bytes(gpt, 1, 512, incremental=True)
    assert incremental < dense / 4
    have = 2 * incremental
    monkeypatch.setattr(verification, "available_memory_bytes", lambda: have)
    with pytest.raises(FlopcalcError, match="memory"):
        verify(c, "full")
    assert verify(c, "incremental").ok


def test_available_memory_takes_the_smaller_of_meminfo_and_the_cgroup_room(tmp_path, monkeypatch):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal: 8000000 kB\nMemAvailable: 4000000 kB\n")
    limit, usage = tmp_path / "memory.max", tmp_path / "memory.current"
    monkeypatch.setattr(verification, "MEMINFO", str(meminfo))
    monkeypatch.setattr(verification, "CGROUP_FILES", ((str(limit), str(usage)),))

    assert verification.available_memory_bytes() == 4000000 * 1024  # no cgroup files
    limit.write_text("max\n")
    assert verification.available_memory_bytes() == 4000000 * 1024  # no limit
    limit.write_text(f"{2 * 2**30}\n")
    usage.write_text(f"{2**30}\n")
    assert verification.available_memory_bytes() == 2**30  # the room left under the limit
    limit.write_text(f"{100 * 2**30}\n")
    assert verification.available_memory_bytes() == 4000000 * 1024  # the host is the bound
    monkeypatch.setattr(verification, "MEMINFO", str(tmp_path / "missing"))
    assert verification.available_memory_bytes() == 99 * 2**30


# ----------------------------------------------------------------------------- the table

def row(layer, name, flops=10, measured=None, shape=(1, 2), operands=((1, 3), (3, 2))):
    known = name != "extra"
    return VerifyRow(layer, name, flops if known else 0, flops if measured is None else measured,
                     shape if known else None, shape, operands if known else None, operands)


def test_table_groups_rows_by_block_with_one_total_each():
    c = small_config(n_layers=2)
    rows = (row(0, "ffn_up"), row(1, "ffn_up"), row(0, "extra"), row(None, "lm_head"))
    result = VerifyResult(c, verify(small_config()).conventions, "full", 0, "float32", rows)
    table = verify_table(result)
    assert [r[:2] for r in table.rows] == [
        ["0", "ffn_up"], ["0", "extra"], ["0", "block total"],
        ["1", "ffn_up"], ["1", "block total"], ["head", "lm_head"]]
    assert table.rows[2][2:4] == [10, 20] and table.rows[2][-1].startswith("✗")
    assert table.rows[1][-1] == "✗ not in the model"
    assert table.rows[4][-1] == "✓"


def test_each_failing_check_is_named_in_the_table_and_the_json():
    conv = verify(small_config()).conventions
    rows = (row(0, "ffn_up", measured=12),
            VerifyRow(0, "ffn_down", 10, 10, (1, 2), (1, 2), ((1, 3), (3, 2)), ((1, 1, 3), (3, 2))),
            VerifyRow(0, "out_proj", 10, 10, (1, 2), (2, 1), ((1, 3), (3, 2)), ((1, 3), (3, 2))),
            row(None, "lm_head"))
    result = VerifyResult(small_config(), conv, "full", 0, "float32", rows)
    table = verify_table(result)
    marks = {r[1]: r[-1] for r in table.rows}
    assert marks["ffn_up"] == "✗ FLOPs"
    assert marks["ffn_down"] == "✗ operand shapes"
    assert marks["out_proj"] == "✗ output shape"
    notes = "\n".join(table.notes)
    assert "block 0, ffn_up: mismatch; analytical vs measured: FLOPs 10 vs 12." in notes
    assert "(1, 3) · (3, 2) vs (1, 1, 3) · (3, 2)" in notes
    assert "output (1, 2) vs (2, 1)" in notes
    doc = verify_json(result)
    assert [r["mismatches"] for r in doc["rows"]] == [["flops"], ["operands"], ["output_shape"], []]
    assert doc["rows"][1]["measured_operands"] == [[1, 1, 3], [3, 2]]
    assert doc["rows"][1]["analytical_operands"] == [[1, 3], [3, 2]]
    assert doc["ok"] is False


# ----------------------------------------------------------------------------- the CLI

def test_cli_passes_with_every_row_marked():
    result = invoke("verify", *SMALL)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "Conventions: 2 FLOPs per multiply-add; dense attention" in out
    assert "✓ (7/7 rows)" in out and "✗" not in out
    assert result.stderr == ""  # no progress bar flashed for an instant pass


def test_cli_json_lists_both_sides_of_every_check():
    result = invoke("verify", *SMALL, "--mode", "incremental", "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert set(doc) == {"schema", "schema_version", "config", "conventions", "mode", "seed",
                        "dtype", "ok", "rows", "totals"}
    assert doc["schema"] == "flopcalc.verify" and doc["ok"] is True
    assert doc["mode"] == "incremental" and doc["conventions"]["attention"] == "causal"
    first = doc["rows"][0]
    assert set(first) == {"layer", "name", "analytical_flops", "measured_flops",
                          "analytical_shape", "measured_shape", "analytical_operands",
                          "measured_operands", "ok", "mismatches"}
    scores = next(r for r in doc["rows"] if r["name"] == "scores")
    assert scores["measured_operands"] == scores["analytical_operands"] == [[1, 2, 1, 8], [1, 2, 8, 6]]
    assert scores["measured_flops"] == 2 * 2 * 8 * (6 * 7 // 2)
    assert doc["totals"]["analytical_flops"] == doc["totals"]["measured_flops"]


def test_cli_no_bias():
    result = invoke("verify", *SMALL, "--no-bias", "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["config"]["bias"] is False and doc["ok"] is True


def test_cli_has_no_untied_lm_head_and_says_why():
    assert "No such option" in one_line_error(invoke("verify", *SMALL, "--untied-lm-head"))
    assert "ties the LM head" in words(invoke("verify", "--help").stdout)


@pytest.mark.parametrize("args, message", [
    (["--seed", -1], "seed"),
    (["--dtype", "float16"], "float16"),
    (["--heads", 3], "must divide"),
    (["--flops-per-mac", 3], "flops_per_mac"),
    (["--mode", "decode"], "decode"),
])
def test_cli_bad_input_is_one_line_and_exit_2(args, message):
    line = one_line_error(invoke("verify", *SMALL, *args))
    assert message in line


class FakeProgress:
    """Stands in for the CLI's lazy progress bar; records what it is told."""

    made: list = []

    def __init__(self, what, *args, **kwargs):
        self.calls = []
        FakeProgress.made.append(self)

    def __call__(self, done, total):
        self.calls.append((done, total))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


def test_cli_short_of_memory_is_refused_before_any_progress(monkeypatch):
    FakeProgress.made = []
    monkeypatch.setattr(cli, "_LazyProgress", FakeProgress)
    monkeypatch.setattr(verification, "available_memory_bytes", lambda: 1000)
    line = one_line_error(invoke("verify", *SMALL))
    assert "memory" in line and "lower --seq-len" in line
    assert FakeProgress.made == []


def test_cli_reports_progress_through_the_lazy_bar(monkeypatch):
    FakeProgress.made = []
    monkeypatch.setattr(cli, "_LazyProgress", FakeProgress)
    result = invoke("verify", *SMALL, "--layers", 2, "--mode", "incremental")
    assert result.exit_code == 0, result.stderr
    (bar,) = FakeProgress.made
    steps = 2 * 6  # every block of every token
    assert bar.calls == [(i, steps) for i in range(1, steps + 1)]


def test_cli_exit_1_and_the_table_names_an_unknown_matmul(monkeypatch):
    mlp = reference.mlp

    def mlp_with_an_extra_matmul(p, prefix, layer, x, recorder, **options):
        reference.matmul(recorder, "extra", layer, x, p[prefix + "mlp.c_fc.weight"])
        return mlp(p, prefix, layer, x, recorder, **options)

    monkeypatch.setattr(reference, "mlp", mlp_with_an_extra_matmul)
    result = invoke("verify", *SMALL, "--layers", 2)
    assert result.exit_code == 1, result.stderr
    lines = result.stdout.splitlines()
    assert sum("block total" in line for line in lines) == 2  # one per block, no more
    extra = [line for line in lines if "extra" in line and "│" in line]
    assert len(extra) == 2 and all("not in the model" in line for line in extra)
    notes = words(result.stdout)
    assert "✗ block 0, extra: mismatch, a matmul the analytical model does not know of" in notes
    assert "(1, 6, 16) · (16, 32)" in notes  # the operands it multiplied

    doc = json.loads(invoke("verify", *SMALL, "--layers", 2, "--format", "json").stdout)
    names = [(r["layer"], r["name"]) for r in doc["rows"]]
    assert names.index((0, "extra")) < names.index((1, "qkv_proj"))
    extra_row = doc["rows"][names.index((0, "extra"))]
    assert extra_row["analytical_shape"] is None and extra_row["analytical_operands"] is None
    assert extra_row["measured_operands"] == [[1, 6, 16], [16, 32]]
    assert extra_row["mismatches"] == ["flops", "output_shape", "operands"]


def test_cli_exit_1_when_only_the_operand_shapes_differ(monkeypatch):
    record = reference.MatmulRecorder.record

    def record_with_a_leading_one(self, name, layer, a_shape, b_shape, out_shape):
        if name == "out_proj":  # same multiply-adds and output, different operands
            a_shape = (1,) + tuple(a_shape)
        record(self, name, layer, a_shape, b_shape, out_shape)

    monkeypatch.setattr(reference.MatmulRecorder, "record", record_with_a_leading_one)
    result = invoke("verify", *SMALL)
    assert result.exit_code == 1, result.stderr
    out_proj = next(line for line in result.stdout.splitlines() if "out_proj" in line and "│" in line)
    assert "✗ operand shapes" in out_proj
    assert "operands (1, 6, 16) · (16, 16) vs (1, 1, 6, 16) · (16, 16)" in words(result.stdout)
    doc = json.loads(invoke("verify", *SMALL, "-f", "json").stdout)
    row_ = next(r for r in doc["rows"] if r["name"] == "out_proj")
    assert row_["analytical_flops"] == row_["measured_flops"]
    assert row_["mismatches"] == ["operands"] and row_["ok"] is False
