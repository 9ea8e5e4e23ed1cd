"""The ``flopcalc`` command line, through typer's CliRunner and through real subprocesses."""

from __future__ import annotations

import csv
import io
import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from markdown_it import MarkdownIt
from cli_helpers import invoke, one_line_error

from conftest import B, D, DFF, DH, GPT2_CONFIG_JSON, H, L, V
from flopcalc import __version__
from flopcalc.cli import app

QKV = 2 * B * L * D * 3 * D       # 452,984,832
SCORES = 2 * B * H * L * L * DH   # 25,165,824 (attn_values the same)
OUT = 2 * B * L * D * D           # 150,994,944
FFN = 2 * B * L * D * DFF         # 603,979,776 (ffn_up and ffn_down each)
LM_HEAD = 2 * B * L * D * V       # 9,880,928,256
ONE_BLOCK = QKV + 2 * SCORES + OUT + 2 * FFN
assert ONE_BLOCK == 1_862_270_976
TOTAL = 12 * ONE_BLOCK + LM_HEAD  # 32,228,179,968

def ok(*args, env=None):
    result = invoke(*args, env=env)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def flat(text: str) -> str:
    """Text with runs of whitespace (and rich's box characters) collapsed to one space."""
    return " ".join(re.sub(r"[│┃║]", " ", text).split())




# ---------------------------------------------------------------------------------------
# flops
# ---------------------------------------------------------------------------------------


def test_flops_without_options_prints_the_documents_numbers_and_conventions():
    out = flat(ok("flops").stdout)
    for number in ["452,984,832", "25,165,824", "150,994,944", "603,979,776",
                   "9,880,928,256", "1,862,270,976", "22,347,251,712", "32,228,179,968"]:
        assert number in out
    assert "2 FLOPs per multiply-add" in out
    assert "dense attention" in out and "matmuls only" in out
    assert "d_model=768" in out and "seq_len=128" in out


def test_flops_table_in_an_80_column_terminal_shows_every_total_in_full():
    # `flopcalc flops | less` or a CI log: rich falls back to 80 columns.
    result = invoke("flops", env={"COLUMNS": "80", "TERMINAL_WIDTH": "80"})
    assert result.exit_code == 0
    out = flat(result.stdout)
    assert "1,862,270,976" in out
    assert "22,347,251,712" in out    # 12 blocks
    assert "32,228,179,968" in out    # total


NARROW = {"COLUMNS": "80", "TERMINAL_WIDTH": "80"}


@pytest.mark.parametrize("args", [[], ["--preset", "gpt2-xl", "--seq-len", "1024"],
                                  ["--preset", "gpt2-medium", "--batch", "64", "--elementwise"]])
def test_compare_in_an_80_column_terminal_shows_every_number_in_full(args):
    doc = json.loads(ok("compare", *args, "-f", "json").stdout)
    cells = flat(ok("compare", *args, env=NARROW).stdout).split()
    for row in doc["rows"]:
        assert row["relative_error_percent"] in cells      # whole, not "−2.5"
        assert f"{row['estimate']:,}" in cells and f"{row['exact']:,}" in cells


def test_flops_json_has_first_principles_rows_and_totals():
    doc = json.loads(ok("flops", "--format", "json").stdout)
    assert {"schema", "config", "conventions", "rows", "totals"} <= set(doc)
    assert doc["config"]["d_model"] == 768 and doc["config"]["seq_len"] == 128
    assert doc["conventions"]["flops_per_mac"] == 2
    assert doc["conventions"]["attention"] == "dense"
    flops = {r["name"]: r["flops"] for r in doc["rows"]}
    assert flops == {"embed": 0, "qkv_proj": QKV, "scores": SCORES, "attn_values": SCORES,
                     "out_proj": OUT, "ffn_up": FFN, "ffn_down": FFN, "lm_head": LM_HEAD}
    assert all(type(v) is int for v in flops.values())
    assert doc["totals"]["block"] == ONE_BLOCK
    assert doc["totals"]["blocks"] == 12 * ONE_BLOCK
    assert doc["totals"]["total"] == TOTAL
    times = {r["name"]: r["times"] for r in doc["rows"]}
    assert times["qkv_proj"] == 12 and times["lm_head"] == 1


def test_flops_blocks_only_counts_only_the_transformer_blocks():
    doc = json.loads(ok("flops", "--blocks-only", "--format", "json").stdout)
    assert {r["section"] for r in doc["rows"]} == {"block"}
    assert doc["totals"]["total"] == 12 * ONE_BLOCK == 22_347_251_712
    assert doc["conventions"]["embeddings"] is False and doc["conventions"]["lm_head"] is False


def test_flops_separate_qkv_gives_three_thirds_and_the_same_total():
    doc = json.loads(ok("flops", "--qkv", "separate", "-f", "json").stdout)
    flops = {r["name"]: r["flops"] for r in doc["rows"]}
    assert flops["q_proj"] == flops["k_proj"] == flops["v_proj"] == QKV // 3
    assert doc["totals"]["total"] == TOTAL


def test_flops_causal_counts_visible_pairs():
    doc = json.loads(ok("flops", "--attention", "causal", "-f", "json").stdout)
    flops = {r["name"]: r["flops"] for r in doc["rows"]}
    assert flops["scores"] == flops["attn_values"] == 2 * H * (L * (L + 1) // 2) * DH


def test_flops_per_mac_1_reports_macs():
    doc = json.loads(ok("flops", "--flops-per-mac", "1", "-f", "json").stdout)
    assert doc["totals"]["total"] == TOTAL // 2
    assert doc["totals"]["block"] == B * L * D * 3 * D + 2 * B * H * L * L * DH + B * L * D * D \
        + 2 * B * L * D * DFF


def test_flops_elementwise_adds_gelu_and_softmax_rows():
    doc = json.loads(ok("flops", "--elementwise", "-f", "json").stdout)
    flops = {r["name"]: r["flops"] for r in doc["rows"]}
    assert flops["gelu"] == 9 * B * L * DFF
    assert flops["softmax"] == 5 * B * H * L * L
    assert flops["qkv_proj"] == QKV + B * L * 3 * D


def test_flops_markdown_is_a_table_stating_config_and_conventions():
    text = ok("flops", "--format", "markdown").stdout
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines[0].startswith("#")
    assert lines[1].startswith("Config:") and "d_model=768" in lines[1]
    assert lines[2].startswith("Conventions:") and "2 FLOPs per multiply-add" in lines[2]

    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    types = [t.type for t in tokens]
    assert types.count("table_open") == 1
    start, end = types.index("thead_open"), types.index("thead_close")
    header = [tokens[i + 1].content for i in range(start, end) if tokens[i].type == "th_open"]
    assert len(header) == 10
    assert "operation" in header and "FLOPs" in header
    body = tokens[types.index("tbody_open"):types.index("tbody_close")]
    rows, cells = [], None
    for t in body:
        if t.type == "tr_open":
            cells = []
        elif t.type == "inline":
            cells.append(t.content)
        elif t.type == "tr_close":
            rows.append(cells)
    # 8 operation rows (embed, 6 block matmuls, lm_head) + one block, 12 blocks, embedding,
    # head, total
    assert len(rows) == 13
    assert all(len(r) == len(header) for r in rows)
    by_name = {r[1].strip("*"): r for r in rows}
    col = header.index("FLOPs")
    assert by_name["qkv_proj"][col] == "452,984,832"
    assert by_name["one block"][col].strip("*") == "1,862,270,976"
    assert by_name["total"][col].strip("*") == "32,228,179,968"
    paragraph = " ".join(t.content for t in tokens[:types.index("table_open")]
                         if t.type == "inline")
    assert "Config:" in paragraph and "Conventions:" in paragraph


def test_flops_csv_parses_with_plain_digit_numbers():
    text = ok("flops", "--format", "csv").stdout
    data = [line for line in text.splitlines() if not line.startswith("#")]
    assert any(line.startswith("# Conventions:") for line in text.splitlines())
    rows = list(csv.reader(io.StringIO("\n".join(data))))
    header, body = rows[0], [r for r in rows[1:] if r]
    col = header.index("FLOPs")
    assert all(len(r) == len(header) for r in body)
    assert all(re.fullmatch(r"\d+", r[col]) for r in body)
    values = {r[1]: int(r[col]) for r in body}
    assert values["qkv_proj"] == QKV
    assert values["one block"] == ONE_BLOCK
    assert values["total"] == TOTAL


def test_flops_output_writes_the_file_and_nothing_to_stdout(tmp_path):
    target = tmp_path / "flops.json"
    result = ok("flops", "-f", "json", "--output", str(target))
    assert result.stdout.strip() == ""
    assert json.loads(target.read_text(encoding="utf-8"))["totals"]["total"] == TOTAL
    assert [p.name for p in tmp_path.iterdir()] == ["flops.json"]   # no temp file left behind


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv"])
def test_flops_output_in_every_format(tmp_path, fmt):
    target = tmp_path / "out.txt"
    ok("flops", "-f", fmt, "-o", str(target))
    assert "1,862,270,976" in target.read_text(encoding="utf-8") or \
        "1862270976" in target.read_text(encoding="utf-8")


def test_failing_run_leaves_an_existing_output_file_byte_identical(tmp_path):
    target = tmp_path / "report.md"
    original = b"previous report\r\n\xe2\x9c\x93 keep me\n"
    target.write_bytes(original)
    one_line_error(invoke("flops", "--heads", "7", "-f", "markdown", "-o", str(target)))
    assert target.read_bytes() == original
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]


def test_output_into_a_missing_directory_is_one_line_error(tmp_path):
    target = tmp_path / "missing" / "report.md"
    line = one_line_error(invoke("flops", "-f", "markdown", "-o", str(target)))
    assert "missing" in line
    assert not target.parent.exists()


@pytest.mark.parametrize("args", [
    ["flops", "--heads", "7"],
    ["flops", "--d-model", "0"],
    ["flops", "--d-model", "-5"],
    ["flops", "--d-model", "abc"],
    ["flops", "--d-model", "1.5"],
    ["flops", "--layers", "0"],
    ["flops", "--batch", "-1"],
    ["flops", "--seq-len", "2048"],
    ["flops", "--seq-len", "2048", "--n-positions", "1024"],
    ["flops", "--config", "/definitely/not/here/config.json"],
    ["flops", "--preset", "gpt3"],
    ["flops", "--flops-per-mac", "3"],
    ["flops", "--attention", "sparse"],
    ["flops", "--format", "xml"],
    ["flops", "--no-such-option"],
    ["params", "--heads", "5"],
    ["shapes", "--seq-len", "0"],
    ["formulas", "--flops-per-mac", "4"],
    ["no-such-command"],
])
def test_bad_input_exits_2_with_one_line_on_stderr(args):
    one_line_error(invoke(*args))


def test_seq_len_beyond_n_positions_names_n_positions():
    line = one_line_error(invoke("flops", "--seq-len", "2048"))
    assert "n_positions" in line or "n-positions" in line


def test_heads_not_dividing_d_model_says_so():
    assert "divide" in one_line_error(invoke("flops", "--heads", "7"))


def test_unsupported_model_type_config_is_one_line_error(write_json):
    # (a llama config.json is read since issue 9; a mixture of experts is not counted)
    path = write_json({"model_type": "dbrx", "hidden_size": 4096})
    assert "dbrx" in one_line_error(invoke("flops", "--config", str(path)))


def test_invalid_json_config_is_one_line_error(write_json):
    path = write_json('{"n_embd": 768,\n  "n_head": }')
    assert "JSON" in one_line_error(invoke("flops", "--config", str(path)))


def test_preset_with_layer_override(tmp_path):
    doc = json.loads(ok("flops", "--preset", "gpt2-xl", "--layers", "2", "-f", "json").stdout)
    assert (doc["config"]["d_model"], doc["config"]["n_heads"], doc["config"]["n_layers"]) \
        == (1600, 25, 2)
    d, f = 1600, 6400
    block = 2 * L * d * 3 * d + 2 * 2 * 25 * L * L * (d // 25) + 2 * L * d * d + 2 * 2 * L * d * f
    assert doc["totals"]["total"] == 2 * block + 2 * L * d * V


def test_config_file_is_used_and_flags_override_it(write_json):
    path = write_json({**GPT2_CONFIG_JSON, "n_layer": 6})
    doc = json.loads(ok("flops", "--config", str(path), "-f", "json").stdout)
    assert doc["config"]["n_layers"] == 6
    assert doc["totals"]["total"] == 6 * ONE_BLOCK + LM_HEAD
    doc = json.loads(ok("flops", "--config", str(path), "--layers", "1", "-f", "json").stdout)
    assert doc["totals"]["total"] == ONE_BLOCK + LM_HEAD


# ---------------------------------------------------------------------------------------
# params, shapes, presets, formulas
# ---------------------------------------------------------------------------------------


def test_params_prints_gpt2_small_total():
    out = flat(ok("params").stdout)
    assert "124,439,808" in out
    doc = json.loads(ok("params", "-f", "json").stdout)
    assert doc["totals"]["total"] == 50257 * 768 + 1024 * 768 + 12 * 7_087_872 + 2 * 768
    assert doc["totals"]["non_embedding"] == 12 * 7_087_872 + 2 * 768


@pytest.mark.parametrize("preset, published", [
    ("gpt2-medium", 354_823_168), ("gpt2-large", 774_030_080), ("gpt2-xl", 1_557_611_200)])
def test_params_of_presets(preset, published):
    assert json.loads(ok("params", "--preset", preset, "-f", "json").stdout)["totals"]["total"] \
        == published


def test_params_of_a_short_context_model():
    # Parameters do not depend on seq_len, so a model with fewer than 128 positions (the
    # default seq_len) must still get its parameter count.
    doc = json.loads(ok("params", "--n-positions", "64", "-f", "json").stdout)
    assert doc["totals"]["total"] == 124_439_808 - (1024 - 64) * 768


def test_params_csv_numbers_are_plain_digits():
    text = ok("params", "-f", "csv").stdout
    rows = list(csv.reader(io.StringIO("\n".join(
        line for line in text.splitlines() if not line.startswith("#")))))
    header, body = rows[0], [r for r in rows[1:] if r]
    col = header.index("parameters")
    assert all(re.fullmatch(r"\d+", r[col]) for r in body)
    assert {r[1]: int(r[col]) for r in body}["total"] == 124_439_808


def test_shapes_lists_head_split_scores_and_logits():
    doc = json.loads(ok("shapes", "--batch", "8", "--seq-len", "1024", "-f", "json").stdout)
    rows = {r["name"]: r for r in doc["rows"]}
    assert rows["transpose_heads"]["output"] == [8, 12, 1024, 64]
    assert rows["scores"]["output"] == [8, 12, 1024, 1024]
    assert rows["ffn_up"]["output"] == [8, 1024, 3072]
    assert rows["ffn_up"]["weight"] == [768, 3072]
    assert rows["lm_head"]["output"] == [8, 1024, 50257]
    out = flat(ok("shapes").stdout)
    assert "(1, 12, 128, 128)" in out


def test_presets_lists_the_four_sizes_with_parameter_counts():
    out = flat(ok("presets").stdout)
    for name, n in [("gpt2", "124,439,808"), ("gpt2-medium", "354,823,168"),
                    ("gpt2-large", "774,030,080"), ("gpt2-xl", "1,557,611,200")]:
        assert name in out and n in out
    doc = json.loads(ok("presets", "-f", "json").stdout)
    assert {p["name"]: p["parameters"] for p in doc["presets"]} == {
        "gpt2": 124_439_808, "gpt2-medium": 354_823_168, "gpt2-large": 774_030_080,
        "gpt2-xl": 1_557_611_200}


def test_formulas_text_states_conventions_and_the_block_formula():
    out = ok("formulas").stdout
    assert out.splitlines()[0].startswith("Conventions:")
    assert "qkv_proj" in out and "6*B*L*d_model**2" in out
    assert "lm_head" in out and "2*B*L*V*d_model" in out


def test_formulas_latex_is_an_align_environment():
    out = ok("formulas", "--format", "latex").stdout
    assert r"\begin{align*}" in out and r"\end{align*}" in out
    assert r"qkv\_proj" in out
    assert "d_{model}" in out
    body = out.split(r"\begin{align*}")[1].split(r"\end{align*}")[0].strip().splitlines()
    assert all(line.rstrip().endswith(r"\\") for line in body[:-1])
    assert not body[-1].rstrip().endswith(r"\\")


def test_formulas_causal_blocks_only_json():
    doc = json.loads(ok("formulas", "--attention", "causal", "--blocks-only",
                        "-f", "json").stdout)
    names = [r["name"] for r in doc["rows"]]
    assert "lm_head" not in names and "embed" not in names
    assert "one block" in names


# ---------------------------------------------------------------------------------------
# --version, --help
# ---------------------------------------------------------------------------------------


def test_version():
    assert ok("--version").stdout.strip() == f"flopcalc {__version__}"


COMMANDS = sorted(typer.main.get_command(app).commands)


def test_the_documented_commands_exist():
    assert {"flops", "params", "shapes", "formulas", "presets"} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_help_exits_0_and_shows_an_example(command):
    out = ok(command, "--help").stdout
    assert re.search(r"^\s*Example: flopcalc " + command, out, re.MULTILINE)


# What the examples need: a write-up and a claims file of the user's (flopcalc audit)
EXAMPLE_FILES = {
    ".md": "The fused QKV projection of one block: $3 \\times 128 \\times 768 \\times 768 "
           "\\times 2 = 452{,}984{,}832$ FLOPs.\n",
    ".toml": '[document]\ntitle = "My notes"\n[document.config]\nseq_len = 128\n'
             '[document.conventions]\nembeddings = false\nlm_head = false\n\n'
             '[[claim]]\nid = "qkv"\nquantity = "flops.qkv_proj"\n'
             'expression = "3 × 128 × 768 × 768 × 2"\nstated = 452984832\n',
}


@pytest.mark.parametrize("command", COMMANDS)
def test_every_commands_example_runs(command, tmp_path, monkeypatch):
    # Exit 0: every example shows the command working. audit and verify exit 1 when they find
    # a mismatch, which an example on correct input must not (and 2 is bad input).
    match = re.search(r"^\s*Example: (flopcalc .+?)\s*$",   # a long one is continued: \
                      ok(command, "--help").stdout.replace(" \\\n", " "), re.MULTILINE)
    argv = shlex.split(match[1])[1:]
    if command == "plot":
        pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)                     # files the example writes land here
    outputs = {argv[i + 1] for i, a in enumerate(argv[:-1]) if a in ("-o", "--output")}
    for arg in argv:
        suffix = Path(arg).suffix
        if suffix in EXAMPLE_FILES and arg not in outputs and not arg.startswith("-"):
            Path(arg).write_text(EXAMPLE_FILES[suffix], encoding="utf-8")
    result = invoke(*argv)
    assert result.exit_code == 0, (match[1], result.stdout[-2000:], result.stderr)
    for name in outputs:
        assert Path(name).stat().st_size > 0


def test_top_level_help_lists_every_command():
    out = ok("--help").stdout
    for command in ["flops", "params", "shapes", "formulas", "presets"]:
        assert command in out


def test_option_help_shows_the_documented_defaults():
    # The help strings spell out "[default: 768]" etc.; they must survive help rendering.
    out = flat(ok("flops", "--help").stdout)
    assert "default: 768" in out
    assert "default: 4*d_model" in out


def test_bare_command_shows_usage_without_an_empty_error_line():
    result = invoke()
    assert "Usage" in result.stdout + result.stderr
    assert not re.search(r"error:\s*$", result.stderr, re.MULTILINE), result.stderr


# ---------------------------------------------------------------------------------------
# Real processes
# ---------------------------------------------------------------------------------------


def run(cmd, **kwargs):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, **kwargs)


def test_python_dash_m_flopcalc_version():
    result = run([sys.executable, "-m", "flopcalc", "--version"])
    assert result.returncode == 0
    assert result.stdout.strip() == f"flopcalc {__version__}"


def test_python_dash_m_flopcalc_bad_input_is_one_stderr_line():
    result = run([sys.executable, "-m", "flopcalc", "flops", "--heads", "7"])
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
    assert result.stdout == ""


def _console_script() -> str | None:
    beside = Path(sys.executable).parent / "flopcalc"
    return str(beside) if beside.exists() else shutil.which("flopcalc")


@pytest.mark.skipif(_console_script() is None, reason="flopcalc console script not installed")
def test_console_script_prints_the_blocks_only_markdown(tmp_path):
    target = tmp_path / "blocks.md"
    result = run([_console_script(), "flops", "--blocks-only", "--format", "markdown",
                  "--output", str(target)])
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    text = target.read_text(encoding="utf-8")
    assert "1,862,270,976" in text and "22,347,251,712" in text
    assert "lm_head" not in text


def test_output_through_a_symlink_replaces_its_target_and_keeps_its_permissions(tmp_path):
    target = tmp_path / "report.md"
    target.write_text("old\n")
    target.chmod(0o600)
    link = tmp_path / "latest.md"
    link.symlink_to(target)
    assert invoke("flops", "--format", "markdown", "--output", str(link)).exit_code == 0
    assert link.is_symlink() and target.read_text().startswith("### FLOPs of one forward pass")
    assert target.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.md", "report.md"]


def test_a_narrow_terminal_says_which_columns_it_leaves_out():
    out = " ".join(invoke("flops", env={"COLUMNS": "80"}).stdout.split())
    assert "Not shown at 80 columns: section, computes, operands, model FLOPs, % of total" in out
