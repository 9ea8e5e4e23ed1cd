"""What the audit reads beyond "expression = number" (issue 11, items 1-3): symbolic
identities, fenced code on request (--code-blocks), definitions in lists and tables, and
approximate comparisons at the written precision with their units converted.

Every expected value is worked out here by hand; each test asserts on the findings."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cli_helpers import invoke
from flopcalc.audit.arithmetic import analyse, find_bindings, find_equations, find_identities
from flopcalc.audit.report import audit_json, audit_text
from fuzz_helpers import examples


def identities(text: str) -> list[tuple[str, str, str]]:
    return [(x.expression, x.stated_text, x.verdict) for x in find_identities(text)]


# --------------------------------------------------------------------------- identities


@pytest.mark.parametrize("text, left, right", [
    (r"$2 \cdot d \cdot 3d = 6d^2$", r"2 \cdot d \cdot 3d", "6d^2"),    # 2·3 = 6, d·d = d²
    ("2·d·3d = 6d^2", "2·d·3d", "6d^2"),
    ("$4d^2 + 8d^2 = 12 d^2$", "4d^2 + 8d^2", "12 d^2"),                # 4 + 8 = 12
    (r"$\frac{12 L d^2}{4 d} = 3 L d$", r"\frac{12 L d^2}{4 d}", "3 L d"),  # 12/4 = 3, d²/d
    ("$(d + 1)^2 = d^2 + 2d + 1$", "(d + 1)^2", "d^2 + 2d + 1"),
])
def test_an_identity_that_holds_is_ok(text, left, right):
    assert identities(text) == [(left, right, "ok")]
    assert find_equations(text) == []              # no number was stated: not an equation


def test_an_identity_that_does_not_hold_is_wrong_with_the_difference():
    (x,) = find_identities("$4d^2 + 8d^2 = 13 d^2$")     # 4 + 8 = 12, not 13: off by d²
    assert x.verdict == "wrong" and x.difference == "-d^2" and x.unknowns == ("d",)
    (x,) = find_identities("$2 L d \\cdot 6 d = 12 L d$")   # 2·6 L d² is not 12 L d
    assert x.verdict == "wrong" and x.difference == "12·L·d^2 - 12·L·d"
    audit = audit_text("$4d^2 + 8d^2 = 13 d^2$\n")
    assert audit.exit_code == 1 and audit.wrong_equations == audit.identities
    summary = audit_json(audit)["summary"]
    assert (summary["identities"], summary["identities_wrong"], summary["equations"]) == (1, 1, 0)


def test_an_implicit_product_after_a_slash_may_join_the_divisor():
    # Megatron's 24 b s h² (1 + s/6h): 24 b s h² · s/(6h) = 4 b s² h, so with s/6h read as
    # s/(6h) the two sides are one function; read as (s/6)·h they are not
    (x,) = find_identities("$24 b s h^2 + 4 b s^2 h = 24 b s h^2 (1 + s/6h)$")
    assert x.verdict == "ok" and x.tight


def test_an_approximate_identity_or_one_with_other_unknowns_says_what_it_needs():
    (x,) = find_identities(r"$24 b s h^2 + 4 b s^2 h \approx 24 b s h^2$")
    assert x.verdict == "unknown" and x.approximate and x.difference == "4·b·h·s^2"
    # Kaplan's 2 d n (2 d_attn + d_ff) = 12 n d² holds only when d_attn = d and d_ff = 4d
    (x,) = find_identities(r"$2 d n (2 d_{attn} + d_{ff}) = 12 n d^2$")
    assert x.verdict == "unknown" and x.unknowns == ("d_attn", "d_ff")


def test_known_symbols_take_their_values_in_an_identity():
    (x,) = find_identities("$d = 768$ and $2 d L = 1536 L$")        # 2 × 768 = 1536
    assert x.verdict == "ok" and x.bindings == (("d", 768),)
    # a side with a value and one with an unknown: the unknown is solved (6 × 64 = 6q)
    (e,) = find_equations("6 × 64 = 6 q\n")
    assert e.verdict == "unknown" and e.solution == 64 and e.stated == 384


@settings(max_examples=examples(300), deadline=None)
@given(st.lists(st.sampled_from(["d", "L", "2", "3", "12", " ", "+", "-", "*", "/", "^", "(",
                                 ")", "=", r"\cdot ", "$", "d^2", "\n", "≈", "s/6h"]),
                max_size=40).map("".join))
def test_arbitrary_identities_never_raise(text):
    result = analyse(text)
    for x in result.identities:
        assert x.verdict in ("ok", "wrong", "unknown") and x.expression and x.stated_text
        assert (x.difference == "") == (x.verdict == "ok") or x.verdict == "unknown"


def test_a_huge_power_of_an_unknown_is_not_expanded():
    assert identities("$(d + 1)^{1000} = d$") == []              # beyond the degree limit


# --------------------------------------------------------------------------- code blocks


def test_code_blocks_are_read_only_with_the_flag(tmp_path):
    path = tmp_path / "doc.md"
    path.write_text("Prose: 2 x 3 = 6\n\n```\n2 + 2 = 5\n```\n", encoding="utf-8")
    plain = invoke("audit", path, "--format", "json")
    assert plain.exit_code == 0
    flagged = invoke("audit", path, "--code-blocks", "--format", "json")
    assert flagged.exit_code == 1                                # 2 + 2 is 4, not 5
    assert "--code-blocks" in invoke("audit", "--help").stdout
    only_code = tmp_path / "code.md"
    only_code.write_text("```\n2 + 2 = 4\n```\n", encoding="utf-8")
    skipped = invoke("audit", only_code)
    assert skipped.exit_code == 3 and "--code-blocks" in skipped.stderr
    assert invoke("audit", only_code, "--code-blocks").exit_code == 0


# --------------------------------------------------------------------------- definitions


def bindings(text: str) -> list[tuple[str, Fraction]]:
    return [(b.name, b.value) for b in find_bindings(text)]


def test_a_table_of_dimensions_defines_its_symbols():
    text = ("| Parameter | Value |\n|---|---|\n| Hidden size ($d_{model}$) | 4,096 |\n"
            "| Layers (L) | 32 |\n| `n_heads` | 32 |\n| Vocabulary | 32k |\n\n"
            "$d_{model} / n_{heads} = 128$ and $L \\times 2 = 64$\n")
    assert bindings(text) == [("d_model", 4096), ("L", 32), ("n_heads", 32)]
    assert [e.verdict for e in find_equations(text)] == ["ok", "ok"]   # 4096/32, 32 × 2


def test_a_row_of_names_over_one_row_of_numbers_defines_them():
    text = "| d | h | L |\n|---|---|---|\n| 768 | 12 | 12 |\n\nSo d / h = 64.\n"
    assert bindings(text) == [("d", 768), ("h", 12), ("L", 12)]
    assert [e.verdict for e in find_equations(text)] == ["ok"]          # 768 / 12 = 64


def test_a_table_of_several_models_defines_nothing():
    text = ("| | small | medium |\n|---|---|---|\n| L | 12 | 24 |\n\n"
            "| d | h |\n|---|---|\n| 768 | 12 |\n| 1024 | 16 |\n")
    assert bindings(text) == []                       # which model's L? which row's d?


@pytest.mark.parametrize("item, name, value", [
    ("- n_layers: 32", "n_layers", 32),
    ("* heads = 32", "heads", 32),
    ("+ **Layers (L):** 12", "L", 12),
    ("1. $d_{model}$: 4096", "d_model", 4096),
    ("- Context: 8k tokens", "Context", 8000),
])
def test_a_list_item_defines_its_name(item, name, value):
    assert bindings(item + "\n") == [(name, value)]


@pytest.mark.parametrize("item", ["- Step 1: 2 x 3", "- Note: see above", "- d: 2 × 64",
                                  "- FLOPs per token: 6N"])
def test_a_list_item_that_states_no_single_number_defines_nothing(item):
    assert bindings(item + "\n") == []


def test_a_definition_in_a_list_after_its_use_and_in_code_is_not_read():
    text = "So $2 L = 64$.\n\nwhere\n\n- L: 32\n\n```\n- d: 768\n```\n"
    (e,) = find_equations(text)
    assert e.verdict == "ok" and e.defined_later == ("L",)               # 2 × 32 = 64
    assert bindings(text) == [("L", 32)]


def test_an_equation_still_with_unknowns_says_what_it_needs():
    audit = audit_text("- L: 12\n\n$L d = 9216$ and $2 L n = 24 n$\n")
    (e,) = audit.equations
    assert e.verdict == "unknown" and e.solution == 768                 # 9216 / 12 = 768
    (x,) = audit.identities
    assert x.verdict == "ok"                                            # 2 × 12 = 24


# --------------------------------------------------------------------------- ≈ and units

KV = "2 × 2048 × 32 × 32 × 128 × 2"        # Llama-2-7B's cache at 2048 tokens: 2^30 bytes


@pytest.mark.parametrize("stated, verdict, unit", [
    ("≈ 1.07 GB", "ok", 10**9),          # 1,073,741,824 / 10^9 = 1.0737 → 1.07
    ("≈ 1.07GB", "ok", 10**9),           # glued
    ("~1.1 GB", "ok", 10**9),            # 1.0737 → 1.1
    ("≈ 1 GiB", "ok", 2**30),            # exactly 1 GiB
    ("≈ 1.1 GiB", "wrong", 2**30),       # 1.0 GiB at the tenth
    (r"\approx 1.2 GB", "wrong", 10**9),  # 1.07 GB is 1.1, not 1.2
])
def test_bytes_in_gb_or_gib_at_the_written_precision(stated, verdict, unit):
    (e,) = find_equations(f"{KV} {stated}")
    assert e.verdict == verdict and e.approximate and e.unit == unit
    assert e.stated * e.unit - e.difference == 2**30        # the nearest reading is reported


SECONDS = "3.15e23 / (1024 × 312e12 × 0.57)"  # 315e21 / 182,108,160e12 = 1,729,741.27 s


@pytest.mark.parametrize("stated, verdict", [
    ("≈ 20 days", "ok"),               # 1,729,741 / 86,400 = 20.02 days, to the ten
    ("≈ 20.0 days", "ok"),
    ("≈ 21 days", "wrong"),            # 20.02 rounds to 20
    (r"\sim 2.9 weeks", "ok"),         # / 604,800 = 2.86 → 2.9
    ("≈ 1.7e6 s", "ok"),               # the seconds themselves
    ("≈ 1.8e6 s", "wrong"),
    ("≈ 0.055 years", "ok"),           # / 31,536,000 = 0.05485 → 0.055
])
def test_seconds_against_days_weeks_and_years_at_the_written_precision(stated, verdict):
    (e,) = find_equations(f"{SECONDS} {stated}")
    assert e.verdict == verdict and e.approximate


def test_a_wrong_duration_reports_the_value_in_the_stated_unit():
    audit = audit_text(f"{SECONDS} ≈ 25 days\n")
    (e,) = audit.equations
    assert e.verdict == "wrong" and e.unit == 86_400
    row = audit_json(audit)["arithmetic"][0]
    assert row["unit_name"] == "days"


@pytest.mark.parametrize("text, verdict", [
    ("12 × 10,400,000 ≈ 120M", "ok"),       # 124.8M, and "≈ 120M" is to the ten million
    ("12 × 10,400,000 = 120M", "wrong"),    # "= 120M" is to the million
    ("12 × 10,400,000 ≈ 120.0M", "wrong"),  # to the hundred thousand
    ("12 × 10,600,000 ≈ 120M", "wrong"),    # 127.2M rounds to 130M
])
def test_an_approximate_magnitude_is_read_to_its_trailing_zeros(text, verdict):
    (e,) = find_equations(text)
    assert e.verdict == verdict


def test_a_symbol_s_in_a_product_is_not_seconds():
    (x,) = find_identities("$2 s h = 2 h s$")
    assert x.verdict == "ok"
    (e,) = find_equations("h = 4 and 12 = 3 s h\n")        # s is an unknown: 12 / 12 = 1
    assert e.verdict == "unknown" and e.solution == 1


# --------------------------------------------------------------------------- names and rates


@pytest.mark.parametrize("text, expression, stated", [
    # 989 TFLOP/s per H100 (dense bf16), eight of them: 989 × 8 = 7,912
    ("On 8 H100 GPUs at 989e12 x 8 = 7.912e15 FLOP/s", "989e12 x 8", 7912 * 10**12),
    # "FLOP / token / parameter" is a unit, not two divisions: 6 × 7 × 2 = 84
    ("C = 6 FLOP / token / parameter * 7B parameters * 2T tokens = 8.4e+22 FLOP.",
     "6 FLOP / token / parameter * 7B parameters * 2T tokens", 84 * 10**21),
])
def test_names_with_digits_and_unit_ratios_are_labels(text, expression, stated):
    (e,) = [e for e in find_equations(text) if e.computed is not None]
    assert (e.expression, e.stated, e.verdict) == (expression, stated, "ok")


def test_a_greek_letter_glued_to_a_digit_is_a_name_too():
    # as "H100" is: "α1" is a label (it once crashed the reader), 3 × 256 = 768
    (e,) = find_equations("The α1 and βeta2 heads hold 3 x 256 = 768 weights.\n")
    assert (e.expression, e.verdict) == ("3 x 256", "ok")


def test_capitals_glued_to_a_number_are_one_letter_symbols():
    (e,) = find_equations("With N = 70B and D = 2T, 6ND = 8.4e+23.\n")   # 6 × 70 × 2 = 840
    assert e.expression == "6ND" and e.verdict == "ok" and e.computed == 84 * 10**22


def test_a_rate_in_tflop_per_second_times_hours_is_converted_to_flop():
    # 311.84 × 1,720,320 × 0.40 = 214,585,835.52; × 10^12 FLOP/s per TFLOP/s × 3,600 s per
    # hour = 7.72509e23, which is 7.725e+23 to the written 10^20
    (e,) = find_equations("311.84 TFLOP/s * 1720320 hours * 0.40 utilization = 7.725e+23 FLOP")
    assert e.verdict == "ok" and e.computed == Fraction(21_458_583_552, 100)
    assert e.stated - e.difference == Fraction(21_458_583_552, 100) * 10**12 * 3600
    wrong = find_equations("311.84 TFLOP/s * 1720320 hours * 0.40 utilization = 7.9e+23 FLOP")
    assert wrong[0].verdict == "wrong"                                 # 7.7e23 ≠ 7.9e23


def test_big_o_and_recurrences_are_not_called_wrong():
    # as products these differ (O·n, d²·n, n), but they are not algebra
    for text in ("$O(n^2 + n) = O(n^2)$", r"$\mathcal{O}(n^2 d + n d^2) = \mathcal{O}(n^2 d)$",
                 "$T(n) = 2T(n/2) + n$"):
        assert [x.verdict for x in find_identities(text)] == ["unknown"], text
    (x,) = find_identities("$O(n^2 + n) = O(n^2)$")
    assert x.applied == ("O",)


def test_letters_run_together_in_math_are_a_product():
    # 2L(d + 1) = 2Ld + 2L; with 3L the difference is -L
    (x,) = find_identities("$2L(d + 1) = 2Ld + 2L$")
    assert x.verdict == "ok" and x.split and x.unknowns == ("L", "d")
    (x,) = find_identities("$2L(d + 1) = 2Ld + 3L$")
    assert x.verdict == "wrong" and x.difference == "-L"
    # 24bsh² + 4bs²h = 24bsh²(1 + s/6h): the power is the last letter's
    (x,) = find_identities("$24bsh^2 + 4bs^2h = 24bsh^2(1 + s/6h)$")
    assert x.verdict == "ok"


def test_a_transpose_is_no_identity_to_check():
    assert find_identities("$QK^T V = S V$") == []              # K^T: no value as a power


def test_huge_products_in_identities_stay_within_a_budget():
    # 12 binomials multiply out to 2^12 = 4,096 terms, more than an identity expands; a text
    # made of many of them is read without expanding them all
    line = "$(a+b)(c+d)(e+f)(g+h)(i+j)(k+l)(m+n)(o+p)(q+r)(s+t)(u+v)(w+x) = (a+b) y$\n\n"
    assert find_identities(line) == []
    many = "$(a+b)^{32} = (b+a)^{32}$\n\n" * 300 + "$4d^2 + 8d^2 = 13 d^2$\n"
    result = analyse(many)
    assert 0 < len(result.identities) < 301 and all(x.verdict == "ok" for x in result.identities)
    assert len(result.identities) + result.identities_skipped == 301   # and the rest counted
    assert any("not checked" in w for w in audit_text(many).warnings)


@pytest.mark.parametrize("text, verdict, unit", [
    ("5.6e10 = 52GB", "ok", 2**30),          # 56e9 / 2^30 = 52.15 GiB, to the GiB
    ("28 billion bytes = 28 GB", "ok", 10**9),
    ("So 1 hour = 60 minutes.", "ok", 60),    # 3,600 s = 60 × 60 s
    ("and 1 day = 25 hours", "wrong", 3600),  # 86,400 s is 24 hours
])
def test_a_number_equal_to_a_number_in_another_unit_is_a_conversion(text, verdict, unit):
    (e,) = find_equations(text)
    assert e.verdict == verdict and e.unit == unit


@pytest.mark.parametrize("text", ["1 token = 2 bytes", "GPT-2 = 124M", "7B model = 7 GB",
                                  "the 12 = 12 heads"])
def test_other_numbers_side_by_side_are_no_equation(text):
    assert find_equations(text) == []


def test_a_whole_number_with_a_unit_is_read_to_its_last_digit():
    # 8 × 7 = 56 exactly; 2 × 2^30 × 26 = 55.83e9 bytes = 55.8 GB, which is 56 GB to the GB
    (e,) = find_equations("2 × 2^30 × 26 = 56 GB")
    assert e.verdict == "ok" and e.precision == 1 and e.unit == 10**9
    (e,) = find_equations("2 × 2^30 × 26 = 57 GB")                   # nor 52 GiB: 52.0
    assert e.verdict == "wrong"


# --------------------------------------------------------------------------- prices, citations


@pytest.mark.parametrize("text, expression, computed, verdict", [
    # a bracketed whole number after a space in prose cites a step: 4e12 × 5e4 = 2e17
    ("4T tokens (7) × 50k vocab size (8) = 2e17 bits", "4T tokens (7) × 50k vocab size (8)",
     2 * 10**17, "ok"),
    # 1 / 1.89e-12 = 10^14/189 = 5.29e11, not 5.31e13 (and not 17 times that)
    ("1 / (1.89e-12 training tokens / flop) (17) = 5.31e13 flops",
     "1 / (1.89e-12 training tokens / flop) (17)", Fraction(10**14, 189), "wrong"),
    # "$100m" is 10^8 dollars and "/$" reads "per dollar": 2e17 / 1e8 = 2e9 (2 gigabits)
    ("2e17 bits (13) ÷ $100m (6) = 2Gb/$ training cost", "2e17 bits (13) ÷ $100m (6)",
     2 * 10**9, "ok"),
    ("4T tokens ÷ $100m = 40k tokens/$", "4T tokens ÷ $100m", 40_000, "ok"),
    ("a $1.5bn run over 3 years: $1.5bn / 3 = $0.5bn", "1.5bn / 3", 5 * 10**8, "ok"),
    # 40k / 2.12e16 = 1/(5.3e11): 1.8868e-12, 1.89e-12 to its last digit
    ("40k tokens/$ ÷ (2.12e16 flops/$) = 1.89e-12 tokens / flop",
     "40k tokens/$ ÷ (2.12e16 flops/$)", Fraction(1, 530 * 10**9), "ok"),
])
def test_prices_and_cited_steps_are_read(text, expression, computed, verdict):
    (e,) = find_equations(text)
    assert (e.expression, e.computed, e.verdict) == (expression, computed, verdict)


@pytest.mark.parametrize("text, computed, verdict", [
    # a bracketed number between a number and an operator or "=" multiplies: 2 × 3, 2 × 3 × 4
    ("2 (3) = 6", 6, "ok"),
    ("2 (3) = 7", 6, "wrong"),
    ("so 2 (3) × 4 = 24 here", 24, "ok"),
    ("so 2 (3) (4) = 24 here", 24, "ok"),
    ("2 (3)\n= 6", 6, "ok"),                       # the next line goes on with "="
    # a bracketed number after a word, or after the stated value, cites: 6 × 2 = 12
    ("6 × 2 = 12 (3)", 12, "ok"),
    ("6 × 2 (eq. 3) = 12", 12, "ok"),
    # in a paragraph whose bracketed numbers follow words, every one of them cites: 1 / 4
    ("4T tokens (7) × 50k vocab size (8) = 2e17 bits\n1 / (2 × 2) (17) = 0.25",
     Fraction(1, 4), "ok"),
    # a paragraph with a bracketed number after a stated value cites: 4 + 1, not 4 × 2 + 1
    ("We compute 2 × 3 = 6 (1) and 4 (2) + 1 = 5", 5, "ok"),
    # after a closing bracket it cites even alone: 1 / (2 × 2)
    ("1 / (2 × 2) (17) = 0.25", Fraction(1, 4), "ok"),
    # ... and a paragraph's citing does not reach beyond a blank line: 2 (3) is 6 there
    ("2 tokens (7) and more\n\n2 (3) = 6", 6, "ok"),
])
def test_a_bracketed_number_multiplies_between_a_number_and_an_operator_else_it_cites(
        text, computed, verdict):
    *_, e = find_equations(text)
    assert (e.computed, e.verdict) == (computed, verdict)


@pytest.mark.parametrize("text", ["the rule [3] = 6", "2 [3] = 6", "see (3) = 6"])
def test_a_number_in_square_brackets_or_after_a_word_is_a_reference_and_no_claim(text):
    assert find_equations(text) == []


def test_a_bracketed_number_in_math_or_glued_on_is_still_a_factor():
    assert find_equations("$(3) (4) = 12$")[0].computed == 12
    assert find_equations("2(3) = 6")[0].computed == 6
    assert find_equations("2 × (3) = 6")[0].computed == 6


@pytest.mark.parametrize("text, expression, stated, verdict, approximate", [
    # 32·766·2048·4096 = 205,621,559,296: 206B to the billion
    ("the weights number 32 * 766 * 2048 * 4096, which is 205B parameters",
     "32 * 766 * 2048 * 4096", 205 * 10**9, "wrong", False),
    ("12 x 768^2, which is about 7.1M", "12 x 768^2", 71 * 10**5, "ok", True),
    ("2 x 80 which equals 160", "2 x 80", 160, "ok", False),
])
def test_which_is_states_a_value(text, expression, stated, verdict, approximate):
    (e,) = find_equations(text)
    assert (e.expression, e.stated, e.verdict, e.approximate) == (
        expression, stated, verdict, approximate)


def test_which_is_before_words_states_nothing():
    assert find_equations("the sum of 2 and 2, which is the answer") == []


@pytest.mark.parametrize("text, computed, stated, verdict", [
    # 16·128·2 = 4,096 bytes: "8192B" is no 8.2 trillion, so B is bytes on this line
    ("a block is 16×128×2B = 8192B", 4096, 8192, "wrong"),
    ("a block is 16×256×2B = 8192B", 8192, 8192, "ok"),
    ("6 × 175B × 300B = 315,000B", 315 * 10**21, 315 * 10**12, "wrong"),  # billions
])
def test_b_is_bytes_on_a_line_with_a_four_digit_count_of_b(text, computed, stated, verdict):
    (e,) = find_equations(text)
    assert (e.computed, e.stated, e.verdict) == (computed, stated, verdict)


@pytest.mark.parametrize("text, computed, verdict", [
    # 6e21 / 1.5e14 = 4e7: the divisor in scientific notation is one number
    ("6 × 10²¹ total FLOPs ÷ 150 × 10¹² FLOPs/sec ≈ 40 million seconds", 40 * 10**6, "ok"),
    (r"$3.14 \times 10^{23} / 3.12 \times 10^{14} = 1.006 \times 10^{9}$",
     Fraction(314 * 10**9, 312), "ok"),
    ("12 / 4 × 3 = 9", 9, "ok"),                 # a product after a division is still one
])
def test_a_divisor_in_scientific_notation_is_one_number(text, computed, verdict):
    (e,) = find_equations(text)
    assert (e.computed, e.verdict) == (computed, verdict)


def test_a_count_of_flops_in_a_prefixed_unit_converts_and_defines():
    # 312 teraFLOPs = 3.12e14 FLOPs; tau is 3.12e14 and 7.38e22 / (1024 tau) / 86400 days
    # = 640625/239616 = 2.67
    text = (r"The peak is \( \tau = 312 \) teraFLOPs \( = 3.12 \times 10^{14} \) FLOPs, so"
            "\n" r"\( T = \frac{7.38 \times 10^{22}}{1024\tau} / 86400 = 2.67 \) days.")
    a = analyse(text)
    assert [(e.computed, e.verdict) for e in a.equations] == [
        (312 * 10**12, "ok"), (Fraction(640625, 239616), "ok")]
    assert (a.bindings[0].name, a.bindings[0].value) == (r"\tau", 312 * 10**12)
    # 6 × 70e9 × 1.4e12 = 5.88e23 FLOPs: 0.6 million exaflops to the tenth
    (e,) = find_equations("6 × 70B × 1.4T = 0.6 million exaflops")
    assert (e.computed, e.verdict, e.unit) == (588 * 10**21, "ok", 10**18)
    (e,) = find_equations("6 × 70B × 1.4T = 0.7 million exaflops")
    assert e.verdict == "wrong"


def test_a_glued_comma_before_a_latex_factor_is_a_lost_thin_space():
    # "\," that lost its backslash: (5+8) d² = 13 d², an identity, not "d^{2} = 13"
    assert identities(r"[ \text{FLOPs} ;\approx; (5+8),d^{2}=13,d^{2}. ]") == [
        ("(5+8),d^{2}", "13,d^{2}", "ok")]
    assert identities(r"(5+8),d^{2}=14,d^{2}")[0][2] == "wrong"
    # digit groups and lists stay what they are
    assert find_equations("12,288 x 2 = 24,576")[0].verdict == "ok"
    assert find_equations("sizes 3,d and 4, so 3 + 4 = 7")[0].computed == 7


def test_seconds_per_day_is_a_unit_ratio():
    # 3.14e23 / (312e12 × 86,400) = 12265625/1053 = 11,648: 11,600 to the hundred
    (e,) = find_equations("3.14×10²³ FLOPs / (312×10¹² FLOPs/s × 86,400 s/day) ≈ 11,600 days")
    assert (e.computed, e.verdict) == (Fraction(12265625, 1053), "ok")


def test_a_table_cell_that_opens_with_a_relation_states_the_cell_before_it():
    text = ("| Sub-block | Operations | FLOPs |\n|---|---|---|\n"
            "| attention | 3 × d × d (proj) + d × d (QK) + d × d (AV) | ≈ 5 × d² |\n"
            "| feed-forward | d × 4d + 4d × d | = 9 × d² |\n")
    assert identities(text) == [
        ("3 × d × d (proj) + d × d (QK) + d × d (AV)", "5 × d²", "ok"),  # 3 + 1 + 1 = 5
        ("d × 4d + 4d × d", "9 × d²", "wrong")]                           # 8 d², not 9
    # only the cell just before is joined: 2 × 3 is not compared with the 7 two cells on
    assert find_equations("| 2 × 3 | 7 | = 7 |") == []
    # and only when it holds arithmetic: a row of figures claims no "7B = 14 GB"
    assert find_equations("| Model | Parameters | FP16 |\n|---|---|---|\n"
                          "| Mistral 7B | 7B | ~14 GB |\n| Llama 70B | 70B | ~140 GB |\n") == []
