"""The shapes beside a mode's FLOPs describe those FLOPs, and the Config line states the
workload of the mode (a decode position, a prompt and new tokens) instead of an unused seq_len."""

from __future__ import annotations

import csv
import io
import json

from cli_helpers import invoke
from conftest import D, DFF, V

GENERATE = ("flops", "--mode", "generate", "--prompt", 100, "--new-tokens", 28)


def csv_rows(*args) -> tuple[list[str], dict[str, dict]]:
    """(the # note lines, the rows by operation) of ``flopcalc ARGS --format csv``."""
    result = invoke(*args, "--format", "csv")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    notes = [line[2:] for line in lines if line.startswith("# ")]
    table = [line for line in lines if line and not line.startswith("#")]
    return notes, {row["operation"]: row for row in csv.DictReader(io.StringIO("\n".join(table)))}


def config_line(notes) -> str:
    (line,) = [n for n in notes if n.startswith("Config: ")]
    return line


def test_generate_rows_show_the_prefill_and_the_decode_steps_shapes():
    notes, rows = csv_rows(*GENERATE)
    qkv = rows["qkv_proj"]
    # 100 prefill tokens + 27 decode steps of one token: 127 tokens through (768, 2304)
    assert int(qkv["FLOPs"]) == 2 * 127 * D * 3 * D == 449_445_888
    assert qkv["operands"] == "(1, 100, 768) @ (768, 2304); 27 × (1, 1, 768) @ (768, 2304)"
    assert qkv["output"] == "(1, 100, 2304); 27 × (1, 1, 2304)"
    # the steps attend to 101 … 127 keys
    scores = rows["scores"]
    assert scores["operands"] == ("(1, 12, 100, 64) @ (1, 12, 64, 100); "
                                  "27 × (1, 12, 1, 64) @ (1, 12, 64, 101…127)")
    assert int(scores["FLOPs"]) == 2 * 12 * 64 * (100 * 100 + sum(range(101, 128)))
    assert rows["lm_head"]["output"] == f"(1, 100, {V}); 27 × (1, 1, {V})"
    assert any("27 decode steps" in n and "101 … 127" in n for n in notes)


def test_generate_config_line_states_prompt_and_new_tokens_not_seq_len():
    notes, _ = csv_rows(*GENERATE)
    line = config_line(notes)
    assert "prompt=100, new_tokens=28" in line and "seq_len" not in line


def test_generate_with_one_new_token_is_the_prefill_alone():
    notes, rows = csv_rows("flops", "--mode", "generate", "--prompt", 100)
    assert rows["ffn_up"]["operands"] == f"(1, 100, {D}) @ ({D}, {DFF})"
    assert any("no decode step" in n for n in notes)


def test_decode_config_line_states_the_position():
    notes, rows = csv_rows("flops", "--mode", "decode", "--position", 50)
    line = config_line(notes)
    assert "position=50 (KV cache of 49)" in line and "seq_len" not in line
    assert rows["scores"]["operands"] == "(1, 12, 1, 64) @ (1, 12, 64, 50)"
    assert any("T = 50 keys (49 cached" in n for n in notes)


def test_train_and_backward_say_the_shapes_are_the_forwards():
    for mode in ("train", "backward"):
        notes, rows = csv_rows("flops", "--mode", mode)
        assert rows["qkv_proj"]["operands"] == f"(1, 128, {D}) @ ({D}, {3 * D})"
        (note,) = [n for n in notes if n.startswith("Shapes are the forward pass's")]
        assert "dA = dC·Bᵀ and dB = Aᵀ·dC" in note
        assert "seq_len=128" in config_line(notes)
    notes, _ = csv_rows("flops", "--mode", "train", "--recompute")
    assert any("counted twice (recomputed)" in n for n in notes)


def test_forward_keeps_its_config_line_and_adds_no_shape_note():
    notes, _ = csv_rows("flops")
    assert "seq_len=128, batch=1" in config_line(notes)
    assert not any(n.startswith("Shapes") for n in notes)


def test_generate_json_rows_carry_the_decode_steps_shapes():
    doc = json.loads(invoke(*GENERATE, "--format", "json").stdout)
    scores = next(r for r in doc["rows"] if r["name"] == "scores")
    assert scores["decode_steps"] == {
        "count": 27,
        "first": {"inputs": [[1, 12, 1, 64], [1, 12, 64, 101]], "output": [1, 12, 1, 101]},
        "last": {"inputs": [[1, 12, 1, 64], [1, 12, 64, 127]], "output": [1, 12, 1, 127]}}
    forward = json.loads(invoke("flops", "--format", "json").stdout)
    assert all(r["decode_steps"] is None for r in forward["rows"])
