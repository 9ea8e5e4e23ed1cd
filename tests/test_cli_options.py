"""The CLI's options: one shared set of model options, one number grammar, one name for each
thing, contradictions refused, and every example in the help and the README runs."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import click
import pytest
import typer.main
from cli_helpers import invoke, one_line_error

from conftest import GPT2_CONFIG_JSON
from flopcalc.cli import app

COMMANDS = typer.main.get_command(app).commands
README = Path(__file__).parent.parent / "README.md"


def ok(*args, env=None):
    result = invoke(*args, env=env)
    assert result.exit_code == 0, (args, result.stdout[-2000:], result.stderr)
    return result


def option_names(command: str) -> set[str]:
    return {name for p in COMMANDS[command].params for name in p.opts + p.secondary_opts}


# ---------------------------------------------------------------------------------------
# One set of model options
# ---------------------------------------------------------------------------------------

MODEL = {"--preset", "--config", "--d-model", "--n-heads", "--heads", "--n-layers", "--layers",
         "--d-ff", "--vocab", "--n-positions", "--qkv", "--no-bias", "--untied-lm-head"}
WORKLOAD = {"--seq-len", "--batch"}


@pytest.mark.parametrize("command, expected", [
    ("flops", MODEL | WORKLOAD), ("shapes", MODEL | WORKLOAD), ("memory", MODEL | WORKLOAD),
    ("compare", MODEL | WORKLOAD), ("sweep", MODEL | WORKLOAD), ("plot", MODEL | WORKLOAD),
    ("params", MODEL),                                  # parameters depend on no workload
    ("verify", MODEL - {"--untied-lm-head"} | WORKLOAD),  # the reference ties the head
])
def test_every_command_that_takes_a_model_takes_the_same_model_options(command, expected):
    names = option_names(command)
    assert expected <= names
    assert not (MODEL | WORKLOAD) - expected & names


def test_the_model_options_mean_the_same_in_every_command():
    def describe(command):
        return {p.name: (p.opts, p.help) for p in COMMANDS[command].params
                if set(p.opts) & (MODEL | WORKLOAD) and p.name not in
                ("d_model", "n_heads", "n_layers", "d_ff", "vocab", "n_positions", "seq_len",
                 "batch")}
    first = describe("flops")
    for command in ("params", "shapes", "verify", "memory", "compare", "sweep", "plot"):
        assert describe(command).items() <= first.items(), command


def test_params_takes_no_sequence_and_needs_none():
    assert not WORKLOAD & option_names("params")
    # 64 position rows: shorter than the default 128-token workload of the other commands
    doc = json.loads(ok("params", "--n-positions", 64, "-f", "json").stdout)
    assert doc["totals"]["total"] == 124_439_808 - (1024 - 64) * 768


def shapes_json(*args):
    return {r["name"]: r for r in json.loads(ok("shapes", *args, "-f", "json").stdout)["rows"]}


def test_shapes_decode_shows_the_new_token_against_a_kv_cache_of_t_positions():
    rows = shapes_json("--mode", "decode", "--position", 10)
    assert rows["qkv_proj"]["inputs"] == [[1, 1, 768]] and rows["qkv_proj"]["output"] == [1, 1, 2304]
    # q of the one new token against K and V of (B, h, t, d_head), t = 10
    assert rows["scores"]["inputs"] == [[1, 12, 1, 64], [1, 12, 64, 10]]
    assert rows["scores"]["output"] == [1, 12, 1, 10]
    assert rows["attn_values"]["inputs"] == [[1, 12, 1, 10], [1, 12, 10, 64]]
    assert rows["lm_head"]["output"] == [1, 1, 50257]


def test_shapes_decode_defaults_to_the_last_position_of_the_sequence():
    rows = shapes_json("--mode", "decode", "--seq-len", 16, "--batch", 2)
    assert rows["attn_values"]["inputs"][1] == [2, 12, 16, 64]
    out = ok("shapes", "--mode", "decode", "--seq-len", 16).stdout
    assert "(B, h, t, d_head)" in " ".join(out.split())


def test_shapes_forward_is_unchanged_by_the_mode_option():
    assert shapes_json("--mode", "forward") == shapes_json()
    assert shapes_json()["scores"]["inputs"] == [[1, 12, 128, 64], [1, 12, 64, 128]]


def test_shapes_takes_no_bias_and_an_untied_head():
    doc = json.loads(ok("shapes", "--no-bias", "--untied-lm-head", "-f", "json").stdout)
    assert doc["config"]["bias"] is False and doc["config"]["tied_lm_head"] is False
    out = " ".join(ok("shapes", "--no-bias", "--untied-lm-head", "-f", "markdown").stdout.split())
    assert "no bias, untied LM head" in out


@pytest.mark.parametrize("args", [["--mode", "generate"], ["--mode", "forward", "--position", 3],
                                  ["--mode", "decode", "--position", 2000]])
def test_shapes_bad_mode_input_is_one_line(args):
    one_line_error(invoke("shapes", *args))


# ---------------------------------------------------------------------------------------
# --preset and --config; empty strings
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["flops", "params", "sweep"])
def test_preset_and_config_together_are_refused(command, write_json):
    path = write_json({**GPT2_CONFIG_JSON, "n_layer": 3})
    extra = ["--seq-len", "1,2"] if command == "sweep" else []
    line = one_line_error(invoke(command, "--preset", "gpt2-xl", "--config", path, *extra))
    assert "--preset" in line and "--config" in line


@pytest.mark.parametrize("args, says", [
    (["flops", "--preset", ""], "unknown preset ''"),
    (["sweep", "--preset", "", "--seq-len", "1,2"], "unknown preset ''"),
    (["memory", "--device", ""], "unknown device ''"),
    (["flops", "--config", ""], "empty path"),
    (["flops", "-o", ""], "empty path"),
    (["formulas", "-o", ""], "empty path"),
    (["plot", "--seq-len", "1,2", "-o", ""], "empty path"),
    (["audit", ""], "empty path"),
    (["audit", "--claims", ""], "empty name"),
])
def test_an_empty_string_is_refused_not_taken_for_the_default(args, says):
    line = one_line_error(invoke(*args))
    assert says in line
    assert "directory" not in line


# ---------------------------------------------------------------------------------------
# One number grammar
# ---------------------------------------------------------------------------------------

def integer_options():
    """(command, option) for every integer option of every command."""
    return [(name, p.opts[0]) for name, cmd in sorted(COMMANDS.items()) for p in cmd.params
            if isinstance(p.type, click.ParamType) and p.type.name == "integer"]


def test_every_integer_option_reads_the_one_grammar():
    found = integer_options()
    assert ("flops", "--d-model") in found and ("verify", "--seed") in found
    assert len(found) >= 40
    for name, cmd in COMMANDS.items():
        for p in cmd.params:   # click's own INT takes "7_68" and "٧٦٨"
            assert not isinstance(p.type, click.types.IntParamType), (name, p.opts)


NOT_NUMBERS = ["7_68", "７６８", "٧٦٨"]       # Python's int() takes all three


def test_the_grammar_is_ascii_digits_with_an_optional_sign():
    from flopcalc.config import FlopcalcError, parse_whole_number
    assert [parse_whole_number(t) for t in ("12", "+12", "-3", " 7\t", "007")] == [12, 12, -3, 7, 7]
    for text in ("1_2", "١٢", "１２", "+-1", "1 2", "", "+"):
        with pytest.raises(FlopcalcError, match="not a whole number"):
            parse_whole_number(text)


@pytest.mark.parametrize("text", ["1e3", "0x10", "12 3", "", "1.0", "--"])
def test_nor_anything_else_that_is_not_digits(text):
    line = one_line_error(invoke("flops", "--d-model", text))
    assert "'--d-model'" in line and "is not a whole number" in line


MODE_OF = {"--position": "decode", "--prompt": "generate", "--new-tokens": "generate"}


@pytest.mark.parametrize("command, option", integer_options())
def test_integer_options_refuse_what_is_not_ascii_digits(command, option):
    lead = ["-o", "x.png"] if command == "plot" else []
    if option in MODE_OF and any("--mode" in p.opts for p in COMMANDS[command].params):
        lead += ["--mode", MODE_OF[option]]
    for text in NOT_NUMBERS:
        line = one_line_error(invoke(command, *lead, option, text))
        assert f"'{option}" in line and "is not a whole number" in line, (text, line)


@pytest.mark.parametrize("text", ["+12", "12", " 12"])
def test_a_plus_sign_and_blanks_around_are_accepted_by_every_command(text):
    assert "n_layers=12" in " ".join(ok("flops", "--n-layers", text).stdout.split())
    doc = json.loads(ok("sweep", "--n-layers", text, "--seq-len", "1,2", "-f", "json").stdout)
    assert doc["first_config"]["n_layers"] == 12


@pytest.mark.parametrize("text", ["١٢", "1_2", "１２", "1_2,24", "١:٨:x2", "1:8:x٢"])
def test_sweep_refuses_what_the_other_commands_refuse(text):
    # --layers: the spelling of the option before --n-layers, so that this fails without the fix
    assert "--n-layers" in one_line_error(invoke("sweep", "--layers", text, "--seq-len", "1,2"))
    if "," not in text and ":" not in text:
        assert "whole number" in one_line_error(invoke("flops", "--layers", text))


@pytest.mark.parametrize("param", [p for p in typer.main.get_command(app).commands["sweep"].params
                                   if p.metavar == "VALUES"], ids=lambda p: p.opts[0])
def test_every_sweep_dimension_reads_the_one_grammar(param):
    for text in ("٢,4", "2_0,4", "２:８:x2"):
        line = one_line_error(invoke("sweep", param.opts[0], text))
        assert line.startswith(f"flopcalc: error: {param.opts[0]} ") and "not a list" in line


# ---------------------------------------------------------------------------------------
# Contradictions and one rule for each thing
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["flops", "formulas"])
def test_recompute_is_refused_outside_train_by_flops_and_formulas_alike(command):
    for mode in ("forward", "backward", "decode", "generate"):
        assert "--mode train" in one_line_error(invoke(command, "--mode", mode, "--recompute"))
    ok(command, "--mode", "train", "--recompute")


@pytest.mark.parametrize("command", ["flops", "formulas", "sweep", "plot"])
@pytest.mark.parametrize("flag", ["--lm-head", "--embeddings"])
def test_blocks_only_with_a_section_it_leaves_out_is_refused(command, flag):
    extra = {"sweep": ["--seq-len", "1,2"], "plot": ["--seq-len", "1,2", "-o", "x.png"]}
    line = one_line_error(invoke(command, "--blocks-only", flag, *extra.get(command, [])))
    assert "--blocks-only" in line


def test_blocks_only_agrees_with_leaving_the_sections_out():
    both = ok("flops", "--blocks-only", "--no-lm-head", "--no-embeddings", "-f", "json").stdout
    assert both == ok("flops", "--blocks-only", "-f", "json").stdout
    assert json.loads(both)["totals"]["total"] == 12 * 1_862_270_976


def test_formulas_says_table_like_every_other_command():
    assert ok("formulas", "--format", "table").stdout == ok("formulas").stdout
    assert "'text' is not one of" in one_line_error(invoke("formulas", "--format", "text"))


def test_the_heads_and_layers_flags_are_named_as_the_config_line_names_them():
    out = " ".join(ok("flops", "--n-heads", 16, "--n-layers", 3).stdout.split())
    assert "n_heads=16" in out and "n_layers=3" in out
    # the short spellings stay
    assert ok("flops", "--heads", 16, "--layers", 3, "-f", "json").stdout == \
        ok("flops", "--n-heads", 16, "--n-layers", 3, "-f", "json").stdout


def test_verify_modes_are_full_and_incremental():
    small = ["--d-model", 16, "--n-heads", 2, "--n-layers", 1, "--vocab", 50, "--seq-len", 4]
    doc = json.loads(ok("verify", *small, "--mode", "full", "-f", "json").stdout)
    assert doc["mode"] == "full" and doc["conventions"]["attention"] == "dense"
    assert ok("verify", *small, "-f", "json").stdout == ok("verify", *small, "--mode", "full",
                                                           "-f", "json").stdout
    assert "'dense' is not one of" in one_line_error(invoke("verify", *small, "--mode", "dense"))


@pytest.mark.parametrize("args", [
    ["flops", "-f", "markdown"], ["params", "-f", "markdown"],
    ["memory", "-f", "markdown"], ["memory", "--mode", "train", "--recompute", "-f", "markdown"],
])
def test_one_block_is_one_block_not_one_blocks(args):
    out = ok(*args, "--n-layers", 1).stdout
    assert "1 block" in out and not re.search(r"\b1 blocks\b", out)
    assert "2 blocks" in ok(*args, "--n-layers", 2).stdout


# ---------------------------------------------------------------------------------------
# Shell completion
# ---------------------------------------------------------------------------------------


def flopcalc(*args, env=None):
    """A real `python -m flopcalc` (completion keys on the program's name, `flopcalc`)."""
    return subprocess.run([sys.executable, "-m", "flopcalc", *args], capture_output=True,
                          text=True, timeout=60, env={**os.environ, **(env or {})})


def test_shell_completion_can_be_shown_and_installed():
    out = ok("--help").stdout
    assert "--install-completion" in out and "--show-completion" in out
    # typer's own switch for naming the shell: otherwise it detects the shell among the
    # process's ancestors, and under a job runner with no shell there is none to find
    script = flopcalc("--show-completion", "bash",
                      env={"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}).stdout
    assert "_FLOPCALC_COMPLETE=complete_bash" in script
    assert "complete -o default -F _flopcalc_completion flopcalc" in script


def test_completion_offers_the_commands_and_the_choices_of_an_option():
    def complete(words, cword):
        env = {"_FLOPCALC_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": cword}
        return flopcalc(env=env).stdout.split()
    assert complete("flopcalc fl", "1") == ["flops"]
    assert complete("flopcalc flops --mode ", "3") == ["forward", "backward", "train", "decode",
                                                        "generate"]


# ---------------------------------------------------------------------------------------
# Every example runs
# ---------------------------------------------------------------------------------------

VALUES_OPTIONS = [p for p in COMMANDS["sweep"].params if p.metavar == "VALUES"]


def test_plot_takes_the_sweeps_lists_and_ranges_with_the_same_help():
    plot = {p.opts[0]: p.help for p in COMMANDS["plot"].params if p.metavar == "VALUES"}
    assert plot == {p.opts[0]: p.help for p in VALUES_OPTIONS}
    assert len(plot) == 15 + 11   # and the sizes of experts and latent attention


@pytest.mark.parametrize("param", VALUES_OPTIONS, ids=[p.opts[0] for p in VALUES_OPTIONS])
def test_each_list_and_range_in_the_sweep_help_runs(param):
    examples = re.findall(r"\(([0-9][0-9,:x+]*)\)", param.help)
    assert len(examples) == 2, param.help          # a list and a range
    mode = re.match(r"(decode|generate):", param.help)
    # GPT-2's heads split d_model with learned positions: the other sizes need another family
    # and the sizes of experts and latent attention a family that has them (DeepSeek-V3's
    # group-limited routing and latent attention, Qwen2-MoE's shared expert)
    family = ["--family", "llama"] if param.name in ("n_kv_heads", "d_head", "rotary_dims") \
        else ["--family", "mixtral"] if param.name in ("n_experts", "top_k", "d_expert") \
        else ["--family", "qwen2_moe"] if param.name == "d_shared" \
        else ["--family", "deepseek_v3"] if param.name in (
            "n_groups", "topk_groups", "q_lora_rank", "kv_lora_rank", "qk_nope_head_dim",
            "qk_rope_head_dim", "v_head_dim") else []
    for value in examples:
        ok("sweep", param.opts[0], value, *family, *(["--mode", mode[1]] if mode else []),
           "-f", "csv")


def test_the_sweep_without_a_swept_dimension_suggests_examples_that_run():
    line = one_line_error(invoke("sweep"))
    examples = re.findall(r"(--[a-z-]+ [0-9][0-9,:x+]*)", line)
    assert len(examples) == 2, line
    for example in examples:
        ok("sweep", *example.split(), "-f", "csv")


def readme_commands() -> list[str]:
    """Every `$ flopcalc ...` line of the README's console blocks, up to a pipe or comment."""
    text = README.read_text(encoding="utf-8")
    blocks = re.findall(r"```console\n(.*?)```", text, re.S)
    lines = [line[2:] for block in blocks for line in block.splitlines() if line.startswith("$ ")]
    return [re.split(r"\s[|#]\s", line)[0] for line in lines]


def test_the_readme_has_console_examples():
    assert len(readme_commands()) >= 6


@pytest.mark.parametrize("line", readme_commands())
def test_every_readme_console_example_runs(line):
    argv = shlex.split(line)
    assert argv[0] == "flopcalc"
    result = invoke(*argv[1:], env={"COLUMNS": "80"})
    # exit 1 is an audit's "something is wrong": the README shows the seed document's errors
    assert result.exit_code == (1 if argv[1] == "audit" else 0), (line, result.stderr)
    assert result.stdout


def test_every_example_in_the_sweep_and_plot_prose_runs(tmp_path):
    # the docstrings name example option values in passing: "(--d-model 384,768,1536)"
    for name in ("sweep", "plot"):
        for example in re.findall(r"--[a-z-]+ [0-9][0-9,:x+]*", COMMANDS[name].help):
            args = [name, *example.split()] + (["-o", tmp_path / "x.svg"] if name == "plot"
                                               else ["-f", "csv"])
            if name == "plot":
                pytest.importorskip("matplotlib")
            ok(*args)



def test_bare_flopcalc_prints_its_help_and_exits_0():
    """No command: the help as --help shows it, on stdout, not an error line."""
    result = invoke()
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("Usage: ") and "Commands:" in result.stdout
    assert result.stdout == invoke("--help").stdout


def test_a_mistyped_command_is_suggested_once():
    line = one_line_error(invoke("flopz"))
    assert line == "flopcalc: error: No such command 'flopz'. Did you mean 'flops'?"
