"""The audit's parsers on hostile input: every depth and length has a limit, refused in one
line (FlopcalcError, exit 2 from the CLI), and no input raises anything else."""

from __future__ import annotations

import json
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cli_helpers import invoke, one_line_error
from flopcalc.audit.arithmetic import (WINDOW, ExpressionError, evaluate, find_bindings,
                                       find_equations, find_shape_equalities, parse_expression)
from flopcalc.audit.claims import MAX_TOML_NESTING, parse_claims
from flopcalc.audit.report import audit_json, audit_tables, audit_text
from flopcalc.config import FlopcalcError
from fuzz_helpers import examples

FUZZ = settings(max_examples=examples(50), deadline=None)
HEADER = """[document]
title = "t"
config = { d_model = 768, n_heads = 12, n_layers = 12, d_ff = 3072, vocab = 50257, seq_len = 128 }

[[claim]]
id = "a"
quantity = "flops.ffn"
"""


@pytest.mark.parametrize("text", [
    "a = " + "[" * 10_000 + "]" * 10_000 + "\n",            # arrays nested 10,000 deep
    "a = " + "{b = " * 10_000 + "}" * 10_000 + "\n",        # inline tables likewise
    "a = " + "[" * (MAX_TOML_NESTING + 1) + "]" * (MAX_TOML_NESTING + 1) + "\n",
])
def test_a_claims_file_nested_too_deep_is_refused_in_one_line(text):
    with pytest.raises(FlopcalcError, match="nested more than 32 deep") as e:
        parse_claims(text, "deep.toml")
    assert "\n" not in str(e.value)


def test_brackets_inside_strings_and_comments_are_no_nesting():
    deep = "[" * 100
    text = (HEADER + f'stated = 1\nexpression = "1"  # {deep}\nlabels = ["{deep}", \'{deep}\']\n'
            + f'[document.names]\n"{deep}" = 1\n')
    claims = parse_claims(text)               # parses: no bracket counted is real nesting
    assert claims.claims[0].labels == (deep, deep)


def test_an_expression_of_401_factors_is_refused_in_one_line():
    long_product = " * ".join(["2"] * 401)
    with pytest.raises(ExpressionError, match=f"longer than {WINDOW} tokens"):
        parse_expression(long_product)
    with pytest.raises(FlopcalcError, match="expression") as e:
        parse_claims(HEADER + f'stated = 1\nexpression = "{long_product}"\n')
    assert "\n" not in str(e.value) and len(str(e.value)) < 300   # the expression is cut


def test_the_longest_accepted_expression_still_evaluates_exactly():
    factors = (WINDOW + 1) // 2                     # n factors are 2n - 1 tokens
    assert evaluate(" * ".join(["2"] * factors)) == 2**factors


def test_the_cli_refuses_a_deep_claims_file_with_exit_2(tmp_path):
    path = tmp_path / "deep.toml"
    path.write_text("a = " + "[" * 10_000 + "]" * 10_000 + "\n", encoding="utf-8")
    assert "nested more than" in one_line_error(invoke("audit", "--claims", path))
    path.write_text(HEADER + 'stated = 1\nexpression = "' + " * ".join(["2"] * 401) + '"\n',
                    encoding="utf-8")
    assert "longer than" in one_line_error(invoke("audit", "--claims", path))


# ------------------------------------------------------------------------------ fuzz

TOML_PIECES = ["[", "]", "{", "}", "[[claim]]\n", "[document]\n", "\n", "=", " ", ",", '"',
               "'", '"""', "'''", "#", "\\", "a", "id", "quantity", '"flops.ffn"', "stated",
               "1", "-", ".", "expression", '"2 × 3"', "config", "d_model", "true", "1e9",
               "labels", "terms", "scope", '"token"', "\u00e9"]


@FUZZ
@given(st.lists(st.sampled_from(TOML_PIECES), max_size=80).map("".join))
def test_random_claims_files_raise_only_flopcalc_errors(text):
    try:
        parse_claims(text)
    except FlopcalcError as e:
        assert "\n" not in str(e)


@FUZZ
@given(st.text(alphabet=string.printable + "×·−²√∑$\\{}", max_size=300))
def test_random_expressions_raise_only_expression_errors(text):
    try:
        evaluate(parse_expression(text), {})
    except ExpressionError:
        pass


WRITE_UP_PIECES = ["1", "12", "124M", "3.3 billion", "1.2 T", "8k", "≈", "~", "= ~", r"\approx",
                   r"\sim", "GB", "GiB", "days", "KB", "½", "10⁹", "⁻", "²", "*3*", "25 ",
                   "(K and V)", "GPT-2", "-token", "```\n", "~~~\n", "\n\n", "$", "$$", "=",
                   "×", "x", " ", "\n", "N", "d", "(", ")", "+", "-", "/", "%", "e9", ".5",
                   r"\frac{", "}{", "}", r"\text{GB}", "hours"]


@FUZZ
@given(st.lists(st.sampled_from(WRITE_UP_PIECES), max_size=40).map("".join))
def test_random_write_ups_raise_nothing(text):
    result = audit_text(text)
    audit_tables(result)
    json.dumps(audit_json(result))


@FUZZ
@given(st.text(max_size=400))
def test_random_documents_raise_nothing(text):
    find_equations(text)
    find_bindings(text)
    find_shape_equalities(text)
    audit_text(text)


# ------------------------------------------------------------------------------ scale

def write_up(paragraphs: int) -> str:
    """A write-up whose definitions stand paragraphs before their use, with chains, display
    math over several lines and a wrong figure in every third paragraph."""
    out = ["Let $d = 768$ and $h = 12$.", ""]
    for k in range(paragraphs):
        stated = 768 * (k + 1) + (1 if k % 3 == 0 else 0)
        out += [f"Paragraph {k} has prose, then $d \\times {k + 1} = {stated:,}$ and",
                f"2 x {k + 1} = {2 * (k + 1)} = 2({k + 1}) on one line.", "",
                "$$", f"d / h + {k} = {64 + k}", "$$", ""]
    return "\n".join(out)


def test_reading_a_text_in_pieces_changes_no_finding(monkeypatch):
    import flopcalc.audit.arithmetic as arithmetic

    text = write_up(40)
    whole = find_equations(text)
    monkeypatch.setattr(arithmetic, "PIECE", 16)   # a piece per paragraph
    pieces = find_equations(text)
    assert pieces == whole and find_bindings(text)[-1].name == "h"
    assert [e.verdict for e in whole[:4]] == ["wrong", "ok", "ok", "ok"]
    assert len(whole) == 40 * 4 and sum(e.verdict == "wrong" for e in whole) == 14
    assert whole[-1].line == text.count("\n", 0, text.rindex("d / h")) + 1


def test_memory_does_not_grow_with_the_text(monkeypatch):
    import tracemalloc

    import flopcalc.audit.arithmetic as arithmetic

    monkeypatch.setattr(arithmetic, "PIECE", 4096)
    paragraph = "Words about the model and its cost, many of them, " * 20 + "\n\n"

    def peak(paragraphs: int) -> int:
        text = paragraph * paragraphs + "Finally 2 + 2 = 5.\n"   # one equation, at the end
        tracemalloc.start()
        eqs = find_equations(text)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert [e.verdict for e in eqs] == ["wrong"] and eqs[0].line == 2 * paragraphs + 1
        return peak

    short, long = peak(25), peak(100)             # 25 KB and 100 KB of prose: 6 and 25 pieces
    assert long < 1.5 * short                     # a piece's tokens, not the whole text's
