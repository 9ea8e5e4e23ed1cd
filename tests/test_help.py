"""``--help`` reads whole at 80 and at 60 columns, and ``formulas`` wraps to the terminal."""

from __future__ import annotations

import json
import re

import pytest
import typer.main
from cli_helpers import invoke, one_line_error

from flopcalc.cli import app

GROUP = typer.main.get_command(app)
COMMANDS = sorted(GROUP.commands)


def flat(text: str) -> str:
    return " ".join(text.split())


def help_at(width: int, *command: str) -> str:
    result = invoke(*command, "--help", env={"COLUMNS": str(width), "TERMINAL_WIDTH": str(width)})
    assert result.exit_code == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("width", [80, 60])
@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_s_help_is_shown_whole_within_the_width(command, width):
    out = help_at(width, command)
    assert max(map(len, out.splitlines())) <= width, out
    assert "…" not in out.replace("adds …", "")   # "adds …" is the help's own text
    text = flat(out)
    for param in GROUP.commands[command].params:
        if getattr(param, "help", None):
            assert flat(param.help.replace("\\[", "[")) in text, param.help
        for name in param.opts + param.secondary_opts if param.param_type_name == "option" \
                else [param.human_readable_name]:
            assert re.search(rf"(^|[\s,/]){re.escape(name)}([\s,/]|$)", text), name
        choices = getattr(param.type, "choices", None)
        if choices:   # the metavar whole, not "[forward|backwar d|…]"
            assert "[" + "|".join(str(getattr(c, "value", c)) for c in choices) + "]" in text


@pytest.mark.parametrize("width", [80, 60])
@pytest.mark.parametrize("command", ["sweep", "flops"])
def test_help_never_splits_a_word_at_its_hyphen(command, width):
    # "(--seq-" / "len 128:1024:x2" cannot be pasted; "[default: matmul-" / "only]" misreads
    out = help_at(width, command)
    assert not re.search(r"\w-\n", out), out
    assert "--seq-len 128:1024:x2" in out if command == "sweep" else "matmul-only]" in out


def test_the_n_heads_help_says_what_the_commands_do():
    """--n-heads must divide d_model, unless --d-head sets the heads' width in a family whose
    heads need not split d_model: 7 heads of 64 in a Llama (d_model 4096) are counted, in
    GPT-2 (d_model 768) they are refused, as the help says at 80 columns."""
    rule = "must divide d_model unless --d-head is given (in a family other than gpt2)"
    assert f"--n-heads, --heads INTEGER Attention heads; {rule} [default: 12]" in flat(
        help_at(80, "flops"))
    assert f"--n-heads, --heads VALUES Attention heads; {rule}:" in flat(help_at(80, "sweep"))
    for given in (("--n-heads", "7"), ("--n-heads", "7", "--d-head", "64")):
        assert "must divide d_model" in one_line_error(invoke("flops", *given))
    assert "must divide d_model" in one_line_error(invoke("sweep", "--n-heads", "7,14",
                                                          "--d-head", "64"))
    llama = invoke("flops", "--family", "llama", "--n-heads", "7", "--d-head", "64", "-f", "json")
    assert llama.exit_code == 0, llama.stderr
    rows = json.loads(llama.stdout)["rows"]
    # each of the 128 tokens through a 4096 × 7·64 Q projection
    assert next(r["flops"] for r in rows if r["name"] == "q_proj") == 2 * 128 * 4096 * 7 * 64


@pytest.mark.parametrize("width", [80, 60])
def test_the_command_list_gives_each_command_s_first_sentence_whole(width):
    out = help_at(width)
    assert max(map(len, out.splitlines())) <= width
    for name, command in GROUP.commands.items():
        assert flat(command.help.split("\n\n")[0].replace("\\[", "[")) in flat(out), name


@pytest.mark.parametrize("width", [40, 60, 80, 120])
def test_formulas_wrap_to_the_terminal_between_terms(width):
    from flopcalc import formulas as fm
    from flopcalc.config import Conventions, Mode  # noqa: F401 (the default mode: forward)

    out = invoke("formulas", "--elementwise", "--mode", "train",
                 env={"COLUMNS": str(width)}).stdout
    lines = out.splitlines()
    assert max(map(len, lines)) <= width
    f = fm.formulas(Conventions(elementwise=True), mode=fm.symbolic_mode("train", False))
    whole = fm.as_text(f.total)
    start = next(i for i, ln in enumerate(lines) if ln.startswith("whole model"))
    joined = " ".join(ln.strip() for ln in lines[start:])
    assert joined.removeprefix("whole model").strip() == whole
    assert all(ln.startswith(("  ", "whole")) for ln in lines[start:])


def test_markdown_latex_and_json_keep_whole_formulas():
    from flopcalc import formulas as fm
    from flopcalc.config import Conventions

    whole = fm.as_text(fm.formulas(Conventions()).total)
    env = {"COLUMNS": "40"}
    assert f"`{whole}`" in invoke("formulas", "-f", "markdown", env=env).stdout
    assert f'"flops": "{whole}"' in invoke("formulas", "-f", "json", env=env).stdout
    latex = invoke("formulas", "-f", "latex", env=env).stdout
    assert max(map(len, latex.splitlines())) > 40   # one line per formula, unwrapped


def test_a_long_example_is_continued_so_that_it_still_pastes():
    out = help_at(60, "sweep")
    example = out[out.index("Example: "):]
    assert example.count(" \\\n") >= 1
    assert flat(example.replace(" \\\n", " ")).startswith(
        "Example: flopcalc sweep --seq-len 128:8192:x2 --n-positions 8192 --d-model 768,1536")
