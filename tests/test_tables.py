"""What the tables say: every share is of a number in its own row, and CSV is one plain,
rectangular, numeric table that a CSV reader (pandas' ``read_csv(f, comment="#")``) takes."""

from __future__ import annotations

import csv
import io
import re

import pytest
from cli_helpers import invoke, one_line_error

from conftest import B, D, DFF, DH, H, L, NL, V

QKV = 2 * B * L * D * 3 * D
ONE_BLOCK = QKV + 2 * (2 * B * H * L * L * DH) + 2 * B * L * D * D + 2 * (2 * B * L * D * DFF)
LM_HEAD = 2 * B * L * D * V
TOTAL = NL * ONE_BLOCK + LM_HEAD


def hundredths(part: int, whole: int) -> str:
    """part / whole in percent, two decimals, rounded half up: computed here, not by flopcalc."""
    h = (part * 10000 * 2 + whole) // (2 * whole)
    return f"{h // 100}.{h % 100:02d}"


def csv_table(text: str) -> tuple[list[str], list[list[str]], list[str]]:
    """(header, rows, comment lines) of a one-table CSV; asserts it is rectangular."""
    comments = [ln for ln in text.splitlines() if ln.startswith("#")]
    rows = list(csv.reader(io.StringIO("\n".join(
        ln for ln in text.splitlines() if not ln.startswith("#")))))
    header, body = rows[0], rows[1:]
    assert body and all(len(r) == len(header) for r in body), "not one rectangular table"
    return header, body, comments


def csv_of(*args) -> tuple[list[str], dict[str, dict[str, str]], list[str]]:
    result = invoke(*args, "--format", "csv")
    assert result.exit_code == 0, result.stderr
    header, body, comments = csv_table(result.stdout)
    return header, {r[1]: dict(zip(header, r)) for r in body}, comments


# ------------------------------------------------------------------ shares (issue 8, item 1)
# The shares pinned before were wrong: "one block" said 69.34% of the total (the share of all
# 12 blocks) and 100.00% with --blocks-only; a block operation's "% of total" was the share of
# 12 times the FLOPs printed beside it.

def test_the_one_block_row_is_one_block_s_share_of_the_total():
    _, rows, _ = csv_of("flops")
    one = rows["one block"]
    assert int(one["FLOPs"]) == ONE_BLOCK
    assert one["% of total"] == hundredths(ONE_BLOCK, TOTAL) == "5.78"
    assert one["% of block"] == "100.00"
    assert rows[f"{NL} blocks"]["% of total"] == hundredths(NL * ONE_BLOCK, TOTAL) == "69.34"


def test_with_blocks_only_one_block_is_a_twelfth():
    _, rows, _ = csv_of("flops", "--blocks-only")
    assert rows["one block"]["% of total"] == hundredths(1, NL) == "8.33"
    assert rows["total"]["% of total"] == "100.00"


def test_a_block_operation_s_shares_are_of_the_numbers_in_its_row():
    header, rows, comments = csv_of("flops")
    qkv = rows["qkv_proj"]
    assert int(qkv["FLOPs"]) == QKV and int(qkv["model FLOPs"]) == NL * QKV
    assert qkv["% of block"] == hundredths(QKV, ONE_BLOCK) == "24.32"
    assert qkv["% of total"] == hundredths(NL * QKV, TOTAL) == "16.87"
    head = rows["lm_head"]   # runs once: its model FLOPs are its FLOPs
    assert int(head["model FLOPs"]) == int(head["FLOPs"]) == LM_HEAD
    assert head["% of total"] == hundredths(LM_HEAD, TOTAL) and head["% of block"] == ""
    notes = " ".join(comments)   # the notes name each whole
    assert "% of block: share of one block's 1,862,270,976" in notes
    assert f"% of total: the model FLOPs' share of the total {TOTAL:,}" in notes


def test_every_flops_share_is_its_row_s_number_over_the_named_whole():
    _, rows, _ = csv_of("flops", "--mode", "train", "--elementwise")
    block, total = int(rows["one block"]["FLOPs"]), int(rows["total"]["FLOPs"])
    for name, r in rows.items():
        if r["% of block"]:
            assert r["% of block"] == hundredths(int(r["FLOPs"]), block), name
        base = r["model FLOPs"] or r["FLOPs"]
        assert r["% of total"] == hundredths(int(base), total), name


def test_memory_per_operation_times_and_shares_agree_within_a_row():
    header, rows, comments = csv_of("memory", "--table", "per-op")
    assert "time (s)" in header and "model time (s)" in header and "% of time" in header
    qkv, one, total = rows["qkv_proj"], rows["one block"], rows["total"]
    # times are rounded to 3 digits, so the share of the one-block row is checked loosely:
    # 12 blocks must not be 12 times one block's share (the old mistake)
    assert float(qkv["model time (s)"]) == pytest.approx(NL * float(qkv["time (s)"]), rel=5e-3)
    share = float(one["% of time"])
    assert share == pytest.approx(100 * float(one["time (s)"]) / float(total["time (s)"]),
                                  abs=0.05)
    block_ops = [r for r in rows.values() if r["section"] == "block"]
    assert sum(float(r["% of time"]) for r in block_ops) == pytest.approx(NL * share, abs=0.1)
    assert "% of time: the model time's share of the total" in " ".join(comments)


def test_the_sweep_says_what_its_shares_are_of():
    header, rows, comments = csv_of("sweep", "--seq-len", "128,256")
    assert "qkv_proj %" in header
    first = next(iter(csv_table(invoke("sweep", "--seq-len", "128,256", "-f", "csv").stdout)[1]))
    assert first[header.index("qkv_proj %")] == hundredths(NL * QKV, TOTAL)
    assert "share of the row's total FLOPs" in " ".join(comments)


# ------------------------------------------------------------------ CSV (issue 8, item 13)

NUMERIC_HEADER = re.compile(r"%|FLOPs$|bytes$|elements$|^parameters$|\(s\)$|^FLOP/byte$|"
                            r"^(d_model|heads|d_head|layers|d_ff|seq_len|line)$")
NUMBER = re.compile(r"-?\d+(\.\d+)?(e[+-]\d+)?")

CSV_COMMANDS = [
    ("flops",), ("flops", "--mode", "decode"), ("params",), ("shapes",), ("presets",),
    ("compare",), ("memory",), ("memory", "--table", "roofline"),
    ("memory", "--table", "per-op"), ("memory", "--mode", "train", "--table", "activations"),
    ("sweep", "--seq-len", "64,128", "--batch", "1,2"),
    ("verify", "--layers", "1", "--d-model", "64", "--heads", "2", "--seq-len", "8",
     "--vocab", "50", "--n-positions", "16"),
    ("audit", "--claims", "gpt2-document"), ("audit", "--claims", "gpt2-document", "--table",
                                             "flops"),
]


@pytest.mark.parametrize("args", CSV_COMMANDS, ids=" ".join)
def test_csv_is_one_rectangular_table_with_ascii_headers_and_plain_numbers(args):
    result = invoke(*args, "--format", "csv")
    assert result.exit_code in (0, 1), result.stderr   # audit: 1 when claims are wrong
    header, body, comments = csv_table(result.stdout)
    assert comments and comments[0].startswith("# ")   # the title and notes stay, as comments
    assert all(h.isascii() and h for h in header), header
    assert "≈" not in header
    numeric = [i for i, h in enumerate(header) if NUMERIC_HEADER.search(h)]
    assert numeric, header
    for row in body:
        for i in numeric:
            assert row[i] == "" or NUMBER.fullmatch(row[i]), (header[i], row[i])


def test_a_command_with_several_tables_says_which_its_csv_holds():
    _, _, comments = csv_of("memory")
    assert "# One of 3 tables (summary): --table roofline|per-op picks another." in comments
    _, _, comments = csv_of("memory", "--mode", "train")
    assert any("--table activations|roofline|per-op" in c for c in comments)


def test_table_picks_one_table_in_every_tabular_format():
    text = invoke("memory", "--table", "roofline", "--format", "markdown").stdout
    assert text.count("### ") == 1 and text.startswith("### Roofline time")
    assert "Memory at" not in invoke("memory", "--table", "per-op").stdout


def test_an_unknown_table_or_table_with_json_is_one_line_of_error():
    line = one_line_error(invoke("memory", "--table", "nope", "-f", "csv"))
    assert "summary, roofline, per-op" in line
    assert "--table" in one_line_error(invoke("memory", "--table", "summary", "-f", "json"))


def test_render_csv_writes_a_percent_as_a_number_and_leaves_out_the_approximation():
    from flopcalc import render
    from flopcalc.tables import Table, percent_cell

    t = Table("t", ["a note"], ["name", "FLOPs", "≈", "% of total"], "lrrr",
              rows=[["a", 1234567, "1.23 M", percent_cell(1, 3)],
                    ["b", 0, "0", percent_cell(0, 0)]])
    assert render.to_csv(t) == ("# t\n# a note\nname,FLOPs,% of total\n"
                                "a,1234567,33.33\nb,0,\n")
    assert "| a | 1,234,567 | 1.23 M | 33.33% |" in render.to_markdown([t])


@pytest.mark.parametrize("preset, name", [("gpt2", "LayerNorm"),          # Radford et al. 2019
                                          ("llama-3.1-8b", "RMSNorm")])    # Touvron et al. 2023
def test_a_norm_is_named_as_its_paper_names_it_in_the_tables_and_in_the_audit(preset, name):
    from flopcalc.audit.claims import Model, parse_claims
    from flopcalc.audit.report import Words

    notes = invoke("params", "--preset", preset, "-f", "markdown").stdout
    assert f"every weight, bias and {name} tensor" in notes
    claims = parse_claims(f'[document]\ntitle = "n"\n[document.config]\npreset = "{preset}"\n'
                          '[[claim]]\nid = "a"\nquantity = "flops.ffn"\nstated = 1\n')
    model = Model(claims.document)
    norms = [op for op in model.ops("sequence").values() if op.role == "norm"]
    assert [Words(model).op_text(op.name) for op in norms] == [
        f"the first {name}", f"the second {name}", f"the final {name}"]
