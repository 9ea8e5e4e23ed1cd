"""A fuzz of the whole command line: every command with a random subset of its options, each
given a value from a nasty alphabet (empty, blank, signed, huge, tiny, unicode digits, NaN,
paths that are folders or missing, repeated and contradictory switches, mutated config.json
documents, generated write-ups). Whatever the input, flopcalc answers with exit code 0, 1
(verify: a mismatch; audit: a finding), 2 (bad input: exactly one ``flopcalc: error:`` line
on stderr) or 3 (audit: nothing checked), and never a traceback.

Bounded: a fixed number of examples per command (``FLOPCALC_FUZZ_EXAMPLES`` multiplies them
for a long run outside the suite), and verify's and sweep's sizes are small by construction
so that no example allocates much; the numeric commands get huge values, which they must
refuse or answer at once.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import flopcalc.files
from cli_helpers import invoke
from fuzz_helpers import DERANDOMIZE, SCALE


def fuzz(examples: int):
    """Settings of one fuzz: ``examples`` in the suite (times ``FLOPCALC_FUZZ_EXAMPLES``), no
    deadline (a busy machine is no failure), the fixture folder shared by every example."""
    return settings(max_examples=max(1, int(examples * SCALE)), deadline=None,
                    derandomize=DERANDOMIZE,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow, HealthCheck.data_too_large])


# --- the nasty alphabet ----------------------------------------------------------------------

NASTY_NUMBERS = ["", " ", "\t", "\n", "0", "-0", "+0", "00", "1", "+1", "-1", "2", "-", "+",
                 "--", "1_0", "_1", "1_", "1__0", "１２", "١٢", "٣", "²", "⅕", "1.0", "1.5",
                 "-1.5", ".5", "1e3", "1E3", "1e-3", "1e309", "1e-320", "-1e309", "nan", "NaN",
                 "-nan", "inf", "-inf", "Infinity", "0x10", "0b1", "0o7", "1/3", "1/0", "3/1",
                 "10**3", "10^3", "2**1000", " 12 ", "12 ", "1,2", "1:4", "1 2", "∞", "e",
                 "9" * 400, "9" * 1001, "1" + "0" * 1000, "-" + "9" * 1001, "1" * 5000,
                 "x" * 10000, "\x00", "\u200b1", "1\u00a0", "١" * 50]


def numbers() -> st.SearchStrategy[str]:
    """Anything that may be given to a numeric option."""
    return st.one_of(
        st.sampled_from(NASTY_NUMBERS),
        st.integers(1, 4096).map(str),
        st.integers(-10 ** 40, 10 ** 40).map(str),
        st.integers(-10 ** 1100, 10 ** 1100).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.text(alphabet="0123456789+-_.eE /,:x*^١２ ", max_size=30),
    )


def small_numbers() -> st.SearchStrategy[str]:
    """Values for verify's and sweep's sizes: what fails to parse or check, or what is small
    (so that no example allocates much)."""
    return st.one_of(
        st.sampled_from(["", " ", "0", "-0", "+0", "-1", "1", "+2", "2", "-", "1_0", "1.5",
                         "nan", "inf", "-inf", "1e309", "١", "３", "x", "1/0", "9" * 1001,
                         "-" + "9" * 1001]),
        st.integers(-3, 12).map(str),
        st.integers(1, 12).map(str),
    )


def text_values() -> st.SearchStrategy[str]:
    """Names (presets, devices, table names, claims files)."""
    return st.one_of(st.sampled_from(["gpt2", "gpt2-medium", "a100", "h100", "summary",
                                      "per-op", "claims", "gpt2-document"]),
                     st.sampled_from(["", " ", "gpt2", "GPT2", "gpt2 ", "gpt2-xl", "gpt2-medium",
                                      "a100", "h100", "rtx4090", "tpu-v4", "A100", "-", "--",
                                      "summary", "roofline", "per-op", "activations", "claims",
                                      "arithmetic", "gpt2-document", "\x00", "é" * 300,
                                      "x" * 5000, "../", "/", "."]),
                     st.text(max_size=20))


GPT2_CONFIG = {"model_type": "gpt2", "n_embd": 768, "n_head": 12, "n_layer": 12,
               "n_positions": 1024, "n_ctx": 1024, "vocab_size": 50257, "n_inner": None,
               "activation_function": "gelu_new", "tie_word_embeddings": True,
               "add_cross_attention": False, "scale_attn_weights": True,
               "layer_norm_epsilon": 1e-5, "architectures": ["GPT2LMHeadModel"]}
SMALL_CONFIG = {**GPT2_CONFIG, "n_embd": 8, "n_head": 2, "n_layer": 1, "n_positions": 16,
                "n_ctx": 16, "vocab_size": 11}

JSON_VALUES = st.one_of(
    st.none(), st.booleans(), st.sampled_from(["true", "false", "768", "", "gpt2", "null"]),
    st.integers(-10 ** 30, 10 ** 30), st.integers(10 ** 4000, 10 ** 4400),
    st.floats(allow_nan=False), st.sampled_from([[], {}, [768], {"n_embd": 768}, [[[]]]]),
    st.integers(-3, 20))


@st.composite
def config_documents(draw, small: bool) -> str:
    """A config.json: a GPT-2 one with fields mutated, removed or added, or not JSON at all."""
    kind = draw(st.sampled_from(["mutated", "mutated", "mutated", "raw"]))
    if kind == "raw":
        return draw(st.one_of(
            st.sampled_from(["", " ", "{", "[]", "null", "1", '"gpt2"', "{}", "[" * 100_000,
                             '{"n_embd": ' + "9" * 5000 + "}", '{"n_embd": 1e999}',
                             '{"n_embd": NaN}', '{"a": 1, "a": 2}', "\ufeff{}", "\x00",
                             '{"n_embd": 768,}', '{"model_type": "gpt2"}']),
            st.text(max_size=50)))
    doc = dict(SMALL_CONFIG if small else GPT2_CONFIG)
    for key in draw(st.lists(st.sampled_from(sorted(GPT2_CONFIG) + ["unknown_field", "d_model",
                                                                      "model_type"]),
                             max_size=4, unique=True)):
        action = draw(st.sampled_from(["set", "set", "drop"]))
        if action == "drop":
            doc.pop(key, None)
        elif key == "model_type":
            doc[key] = draw(st.sampled_from(["gpt2", "llama", "GPT2", "", None, 2, "gpt_neo"]))
        else:
            doc[key] = draw(JSON_VALUES)
    if small and any(isinstance(doc.get(k), int) and not isinstance(doc.get(k), bool)
                     and doc.get(k) > 64 for k in ("n_embd", "n_layer", "n_inner", "vocab_size",
                                                    "n_positions", "n_ctx")):
        doc = dict(SMALL_CONFIG)  # verify runs a real pass: no large dimension
    return json.dumps(doc)


# --- the fixture folder: paths that are folders, missing, FIFOs, devices ----------------------

@pytest.fixture(scope="module")
def place(tmp_path_factory):
    """A folder with a subfolder, a FIFO, an existing file and a writable name; FIFOs are
    given up on at once (no fuzz example waits for a writer)."""
    base = tmp_path_factory.mktemp("fuzz")
    (base / "dir").mkdir()
    os.mkfifo(base / "fifo")
    (base / "file.txt").write_text("old\n")
    wait, flopcalc.files.WRITER_WAIT = flopcalc.files.WRITER_WAIT, 0.01
    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)  # as flopcalc.cli.run() does
    yield base
    sys.set_int_max_str_digits(limit)
    flopcalc.files.WRITER_WAIT = wait


def input_paths(base) -> st.SearchStrategy[str]:
    return st.sampled_from([str(base / "dir"), str(base / "missing.json"),
                            str(base / "dir" / "no" / "such"), str(base / "fifo"), "", " ", "-",
                            "/dev/null", str(base / ("n" * 300)), str(base / "file.txt")])


def output_paths(base) -> st.SearchStrategy[str]:
    return st.sampled_from([str(base / "dir"), str(base / "out.txt"), "-", "", str(base / " "),
                            "/dev/null",
                            str(base / "missing" / "out.txt"), str(base / ("n" * 250)),
                            str(base / ("n" * 300)), str(base / "file.txt"), str(base)])


# --- the commands and their options ---------------------------------------------------------

SIZES = ["--d-model", "--heads", "--n-heads", "--layers", "--n-layers", "--d-ff", "--vocab",
         "--n-positions", "--seq-len", "--batch"]
MODE_NUMBERS = ["--position", "--prompt", "--new-tokens"]
SWITCHES = ["--no-bias", "--untied-lm-head", "--elementwise", "--matmul-only", "--embeddings",
            "--no-embeddings", "--lm-head", "--no-lm-head", "--blocks-only", "--recompute",
            "--skip-invalid", "--help", "-h", "--version", "--bogus"]
CHOICES = {"--qkv": ["fused", "separate"], "--attention": ["dense", "causal"],
           "--mode": ["forward", "backward", "train", "decode", "generate", "full",
                      "incremental"],
           "--format": ["table", "markdown", "json", "csv", "latex", "text"],
           "-f": ["table", "csv"], "--dtype": ["fp32", "bf16", "fp16", "int8", "float32",
                                               "float64"],
           "--kind": ["shares", "estimates"]}
MODEL = ["--preset", "--config", *SIZES, "--qkv", "--no-bias", "--untied-lm-head"]
CONVENTIONS = ["--flops-per-mac", "--attention", "--elementwise", "--matmul-only",
               "--embeddings", "--no-embeddings", "--lm-head", "--no-lm-head", "--blocks-only",
               "--mode", "--recompute", *MODE_NUMBERS]
OPTIONS = {
    "flops": [*MODEL, *CONVENTIONS, "--format", "-f", "-o"],
    "params": [*MODEL, "--format", "-o"],
    "shapes": [*MODEL, "--mode", "--position", "--format", "-o"],
    "formulas": [*CONVENTIONS, "--qkv", "--no-bias", "--untied-lm-head", "--format", "-o"],
    "presets": ["--format", "-o"],
    "compare": [*MODEL, "--attention", "--elementwise", "--matmul-only", "--format", "-o"],
    "memory": [*MODEL, "--mode", "--dtype", "--recompute", "--position", "--elementwise",
               "--matmul-only", "--device", "--peak-tflops", "--bandwidth-gbs", "--format",
               "-o", "--table"],
}


def values(option: str, base, small: bool) -> st.SearchStrategy[str]:
    """Values for ``option``, from the nasty alphabet."""
    if option in CHOICES:
        return st.one_of(st.sampled_from(CHOICES[option]), text_values())
    if option == "--config":
        return st.one_of(input_paths(base), config_documents(small).map(lambda doc: ("doc", doc)))
    if option == "-o":
        return output_paths(base)
    if option in ("--preset", "--device", "--table", "--claims"):
        return text_values()
    return small_numbers() if small else numbers()


@st.composite
def command_lines(draw, command: str, options: list[str], base, small=False):
    """``command`` and a random subset of ``options`` (some repeated) with values, sometimes
    followed by a switch or word it does not take."""
    args = [command]
    chosen = draw(st.lists(st.sampled_from(options), max_size=8))
    for option in chosen:
        args.append(option)
        if option in SWITCHES:
            continue
        value = draw(values(option, base, small))
        if isinstance(value, tuple):  # a config.json document: written for this example
            path = base / f"config-{draw(st.integers(0, 10 ** 9))}.json"
            path.write_text(value[1])
            value = str(path)
        args.append(value)
    if draw(st.integers(0, 4)) == 0:
        args.append(draw(st.sampled_from(SWITCHES + ["--", "-x", "extra"])))
    return args


def check(result) -> None:
    """The contract: exit code 0, 1, 2 or 3, no traceback; on 2 one ``flopcalc: error:`` line."""
    out, err = result.stdout, result.stderr
    # CliRunner turns an escaped exception into exit code 1 with no traceback printed
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    assert result.exit_code in (0, 1, 2, 3), (result.exit_code, result.exception, err[-2000:])
    assert "Traceback" not in out + err, err[-3000:]
    if result.exit_code == 2:
        lines = err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("flopcalc: error: "), err[-2000:]


# --- the fuzz itself -------------------------------------------------------------------------

COLUMNS = st.sampled_from([None, "0", "1", "-3", "abc", "", "40", "100000"])


@pytest.mark.parametrize("command", sorted(OPTIONS))
def test_any_options_of_a_numeric_command_keep_the_contract(command, place):
    @fuzz(20)
    @example(args=[command], columns="0")  # rich took COLUMNS=0 as a width of 0
    @given(args=command_lines(command, OPTIONS[command], place), columns=COLUMNS)
    def one(args, columns):
        check(invoke(*args, env=None if columns is None else {"COLUMNS": columns,
                                                               "TERMINAL_WIDTH": columns}))

    one()


def test_any_verify_options_keep_the_contract(place):
    small = ["--d-model", "4", "--heads", "2", "--layers", "1", "--vocab", "7", "--seq-len", "3",
             "--n-positions", "8"]
    options = ["--config", *SIZES, "--qkv", "--no-bias", "--mode", "--seed", "--dtype", "--seed",
               "--flops-per-mac", "--format", "-o"]

    @fuzz(20)
    @given(args=command_lines("verify", options, place, small=True))
    def one(args):
        # the fixed small sizes come first: a drawn size (small by construction) overrides them
        check(invoke(args[0], *small, *args[1:]))

    one()


@st.composite
def sweep_values(draw) -> str:
    """A sweep axis: small lists and ranges (at most a dozen points), or nasty text."""
    return draw(st.one_of(
        small_numbers(),
        st.lists(st.integers(-2, 64), min_size=1, max_size=3).map(lambda v: ",".join(map(str, v))),
        st.tuples(st.integers(-2, 64), st.integers(0, 12), st.sampled_from(["+1", "+4", "*2",
                                                                            "+0", "*1", "-1",
                                                                            "*0", "x", ""]))
        .map(lambda t: f"{t[0]}:{t[0] + t[1]}:{t[2]}"),
        st.sampled_from(["1:4", "4:1", ":", "::", "1::", "1,,2", ",", "1,", "1:4:+1,2",
                         "1:9999999999:+1", "1:" + "9" * 1001 + ":*2", "8:8", "1:4:+1.5",
                         "1:" + "9" * 20000 + ":*2"])))


def test_any_sweep_options_keep_the_contract(place):
    options = ["--preset", "--config", *SIZES, "--qkv", *CONVENTIONS, "--format", "-o"]

    @fuzz(24)
    @given(args=command_lines("sweep", options, place, small=True), axis=st.sampled_from(SIZES),
           several=sweep_values())
    def one(args, axis, several):
        # an axis of several values at the end, so that the grid is at most a few hundred points
        check(invoke(*args, axis, several))

    one()


def test_any_plot_options_keep_the_contract(place):
    options = ["--preset", "--config", *SIZES, "--kind", *CONVENTIONS, "-o"]

    @fuzz(8)
    @given(args=command_lines("plot", options, place, small=True), axis=st.sampled_from(SIZES),
           several=sweep_values(),
           out=st.sampled_from(["p.png", "p.svg", "p.pdf", "p", "dir", "p.PNG", "-"]))
    def one(args, axis, several, out):
        check(invoke(*args, axis, several, "-o", str(place / out)))

    one()


WORDS = ["FLOPs", "FLOP", "GFLOPs", "params", "parameters", "GPT-2", "d_model", "n_layers",
         "seq_len", "=", "≈", "~", "×", "x", "*", "·", "/", "+", "-", "^", "**", "(", ")", "$",
         "\\(", "\\)", "\\times", "\\cdot", "\\frac{", "}", "{", "10^", "e", "%", "2", "768",
         "12", "128", "50257", "1024", "3072", "124M", "1.5B", "2N", "6N", "2 × 768 × 3072",
         "= 4,718,592", "9" * 400, "1e309", "nan", "inf", "\n", "\n\n", "#", "|", "```", "²",
         "¹⁰", "½", "١٢", "１２", "—", "\x00", "\ufeff", "\r"]


@st.composite
def documents(draw) -> str:
    """A write-up: words, numbers and operators in any order, sometimes real arithmetic."""
    parts = draw(st.lists(st.one_of(st.sampled_from(WORDS), st.integers(-10 ** 6, 10 ** 30)
                                    .map(str), st.text(max_size=8)), max_size=60))
    return " ".join(parts)


CLAIMS = ["", "[[claim]]", "x = 1", '[[claim]]\nsays = "qkv_proj"\nvalue = 1\n',
          '[[claims]]\nname = "a"\nflops = 1e999\n', "[" * 10_000, "a = [" + "[" * 5000,
          "\x00", 'title = "x"\n' * 3]


def test_any_audit_input_keeps_the_contract(place):
    @fuzz(24)
    @example(doc="", where="file", path="-", claims=None, extra=[("--table", "claims")])
    @example(doc="1 + 1 = 2", where="file", path="-", claims=str(place / "fifo"), extra=[])
    @example(doc="1 + 1 = 2", where="file", path="-", claims="/dev/zero", extra=[])
    @example(doc="", where="file", path="-", claims="é" * 300, extra=[])  # ENAMETOOLONG
    @given(doc=documents(), where=st.sampled_from(["file", "file", "stdin", "path"]),
           path=input_paths(place),
           claims=st.one_of(st.none(), text_values(), input_paths(place),
                            st.sampled_from(CLAIMS).map(lambda c: ("doc", c))),
           extra=st.lists(st.sampled_from([("--format", "json"), ("--format", "csv"),
                                           ("--format", "markdown"), ("--format", "x"),
                                           ("--table", "claims"), ("--table", "arithmetic"),
                                           ("--table", ""), ("--table", "nope"),
                                           ("-o", str(place / "audit.out")), ("-o", "")]),
                          max_size=3))
    def one(doc, where, path, claims, extra):
        args = ["audit"]
        if where == "file":
            target = place / "doc.md"
            target.write_text(doc, encoding="utf-8", errors="surrogatepass")
            args.append(str(target))
        elif where == "stdin":
            args.append("-")
        else:
            args.append(path)
        if isinstance(claims, tuple):
            (place / "claims.toml").write_text(claims[1])
            args += ["--claims", str(place / "claims.toml")]
        elif claims is not None:
            args += ["--claims", claims]
        check(invoke(*args, *itertools.chain(*extra), input=doc if where == "stdin" else None))

    one()


# --- a handful of real processes: what an in-process runner cannot give ---------------------

@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("args", [["flops"], ["sweep", "--seq-len", "1:300:+1", "--format", "csv"],
                                  ["--version"], ["--help"], ["flops", "--help"]])
def test_a_full_stdout_is_one_line_and_exit_2(args):
    """`> /dev/full`: every write fails with ENOSPC (a rich table, streamed CSV chunks, the
    version line), and Python's flush at exit must not fail a second time."""
    with open("/dev/full", "w") as full:
        run = subprocess.run([sys.executable, "-m", "flopcalc", *args], stdout=full,
                             stderr=subprocess.PIPE, text=True, timeout=120)
    assert run.returncode == 2, run.stderr
    assert run.stderr.splitlines() == ["flopcalc: error: cannot write standard output: "
                                       "No space left on device"]


def test_a_closed_stdout_is_one_line_and_exit_2():
    """`>&-`: Python makes sys.stdout None and would drop the table without a word."""
    run = subprocess.run(f'"{sys.executable}" -m flopcalc flops >&-', shell=True,
                         stderr=subprocess.PIPE, text=True, timeout=120)
    assert run.returncode == 2, run.stderr
    assert run.stderr.splitlines() == ["flopcalc: error: cannot write standard output: "
                                       "it is closed"]
