r"""Specification of flopcalc.audit.arithmetic: exact checks of "expression = number" claims.

Every expected value below is computed independently (Python ints/Fractions written in the
test), never copied from the parser's output.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from flopcalc.audit.arithmetic import (
    Equation,
    ExpressionError,
    ShapeEquality,
    additive_terms,
    evaluate,
    factors,
    find_bindings,
    find_equations,
    find_shape_equalities,
    parse_expression,
    solve,
)
from fuzz_helpers import examples

FIXTURE = Path(__file__).parent / "fixtures" / "equations.md"
FUZZ = settings(max_examples=examples(60), deadline=None)


def one(text: str) -> Equation:
    """The single equation of ``text``."""
    eqs = find_equations(text)
    assert len(eqs) == 1, eqs
    return eqs[0]


def claims(text: str) -> list[tuple[str, Fraction, str]]:
    """(expression, stated, verdict) of every equation of ``text``."""
    return [(e.expression, e.stated, e.verdict) for e in find_equations(text)]


def check_invariants(text: str, eqs: list[Equation]) -> None:
    """What holds for every Equation on any input."""
    for e in eqs:
        assert e.verdict in ("ok", "wrong", "unknown", "cannot evaluate")
        assert isinstance(e.stated, Fraction)
        assert e.line == text.count("\n", 0, e.span[0]) + 1
        assert text[e.span[0]:e.span[1]].strip() == e.expression != ""
        assert bool(e.reason) == (e.verdict == "cannot evaluate")
        if e.verdict == "cannot evaluate":
            assert e.computed is None and e.difference is None and e.solution is None
        elif e.verdict == "unknown":
            assert e.unknowns and e.computed is None and e.difference is None
        else:
            assert not e.unknowns and isinstance(e.computed, Fraction)
            assert e.difference == e.stated - e.computed
            assert (e.verdict == "ok") == (e.difference == 0)
        if e.solution is not None:
            assert len(e.unknowns) == 1 and isinstance(e.solution, Fraction)
        str(e)  # every value prints: none exceeds Python's int-to-str digit limit


# --------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    "written, value",
    [
        ("1,207,959,552", 1_207_959_552),
        ("1{,}024", 1024),
        (r"16\,384", 16_384),
        ("16\u2009384", 16_384),  # a Unicode thin space
        ("1_000_000", 1_000_000),
        ("0.75", Fraction(3, 4)),
        ("2.5e3", 2500),
        ("1,234.5", Fraction(2469, 2)),
        ("12.5%", Fraction(1, 8)),
        (r"\textbf{6}", 6),
    ],
)
def test_number_formats_are_read_exactly(written, value):
    e = one(f"$1 \\times {written} = {written}$")
    assert e.stated == e.computed == value and e.verdict == "ok"


def test_a_comma_is_a_thousands_separator_only_before_exactly_three_digits():
    # "1,2345" is 1 then a comma then 2345; "64, 12" is a list.
    assert claims("1,2345 * 2 = 4690") == [("2345 * 2", 4690, "ok")]
    assert claims("(64, 12 + 1 = 13)") == [("12 + 1", 13, "ok")]
    assert claims("7 * 1,000 = 7000") == [("7 * 1,000", 7000, "ok")]


def test_decimals_are_exact_fractions_not_floats():
    e = one("0.1 + 0.2 = 0.3")  # false in floating point
    assert e.verdict == "ok" and e.computed == Fraction(3, 10)
    assert one("$1 \\div 3 = 0.333$").difference == Fraction(333, 1000) - Fraction(1, 3)


# --------------------------------------------------------------------------- operators


@pytest.mark.parametrize(
    "text, value",
    [
        (r"$3 \times 4 = 12$", 3 * 4),
        (r"$3 \cdot 4 = 12$", 3 * 4),
        ("3 × 4 = 12", 3 * 4),
        ("3 * 4 = 12", 3 * 4),
        ("3 x 4 = 12", 3 * 4),
        ("3x4 = 12", 3 * 4),
        ("$10 - 4 = 6$", 10 - 4),
        ("$10 \u2212 4 = 6$", 10 - 4),  # Unicode minus
        ("$12 / 4 = 3$", 12 // 4),
        (r"$12 \div 4 = 3$", 12 // 4),
        ("12 ÷ 4 = 3", 12 // 4),
        (r"$\frac{12}{4} = 3$", 12 // 4),
        (r"$\dfrac{3}{4} = 0.75$", Fraction(3, 4)),
        (r"$\frac12 = 0.5$", Fraction(1, 2)),
        ("$128^2 = 16384$", 128**2),
        ("$2^{10} = 1024$", 2**10),
        ("2**10 = 1024", 2**10),
        ("128² = 16384", 128**2),
        ("$2^{-2} = 0.25$", Fraction(1, 4)),
        ("$2^{3^2} = 512$", 2 ** (3**2)),  # right-associative
        ("$-3^2 = -9$", -(3**2)),
        ("$(2 + 3) \\times 4 = 20$", (2 + 3) * 4),
        (r"$\left( 2 + 3 \right) \times 4 = 20$", (2 + 3) * 4),
        (r"$\left[ 2 + 3 \right] \times 4 = 20$", (2 + 3) * 4),
        ("$[2 + 3] \\times 4 = 20$", (2 + 3) * 4),
        ("${2 + 3} \\times 4 = 20$", (2 + 3) * 4),
        ("$2 + 3 \\times 4 = 14$", 2 + 3 * 4),  # precedence
        ("$(2+3)(4+1) = 25$", (2 + 3) * (4 + 1)),  # implicit products of groups
        ("$2(3+4) = 14$", 2 * (3 + 4)),
        (r"$2\frac{1}{4} = 0.5$", Fraction(1, 2)),
        ("50% \\times 8 = 4", 4),
    ],
)
def test_operators(text, value):
    e = one(text)
    assert e.computed == value
    assert e.verdict == ("ok" if e.stated == value else "wrong")


def test_spacing_commands_and_wrappers_are_ignored():
    assert claims(r"$\displaystyle 2\,\times\;3 \! = 6$") == [(r"\displaystyle 2\,\times\;3", 6, "ok")]
    boxed = r"$\boxed{2 + 2} = 4$ $2 + 2 = \boxed{5}$"
    assert [e.verdict for e in find_equations(boxed)] == ["ok", "wrong"]
    assert one(r"$\underbrace{2 \times 3}_{\text{heads}} = 6$").verdict == "ok"


# --------------------------------------------------------------------------- labels


def test_labels_between_factors_are_ignored():
    text = (r"$3 \times 128 \text{ tokens} \times 768 \mathrm{~dims} \times 2 \text{ FLOPs}"
            r" = 589,824 \text{ FLOPs}$")
    assert one(text).computed == 3 * 128 * 768 * 2
    assert one("3 tokens x 128 x 2 FLOPs = 768 FLOPs").computed == 3 * 128 * 2
    assert one("$2 FLOPs \\times 3 tokens = 6$").computed == 6  # unit words, even in math
    assert one("**Total:** 2 * 3 = **6**").verdict == "ok"  # bold markers


def test_a_bracket_group_of_only_words_is_a_remark_not_a_factor():
    # L stays unknown: the remark after it is not a multiplication.
    e = one(r"$2 \times L(\text{depends on the position}) \times 64 = 1024$")
    assert e.unknowns == ("L",) and e.solution == Fraction(1024, 2 * 64)
    e = one(r"$(1,000 \text{ FLOPs} + 24 \text{ FLOPs})(\text{both projections}) = 1,024$")
    assert e.computed == 1000 + 24 and e.verdict == "ok"
    assert one("3 x 4 (see step 2) = 12").computed == 12  # prose remark in plain text


def test_a_remark_opened_inside_a_label_may_close_after_it():
    # The closing parenthesis of "(... of } W_0)" belongs to the remark, not the arithmetic.
    text = (r"$2 \times 4 \times L(\text{grows with the position}) \times 16 \text{ FLOPs (query"
            r" times key)} + 2 \times 8 \times 8 \text{ FLOPs (mixing heads with } W_O) = 1,152$")
    e = one(text)
    assert e.unknowns == ("L",)
    assert e.solution == Fraction(1152 - 2 * 8 * 8, 2 * 4 * 16)


# --------------------------------------------------------------------------- chains


def test_a_chain_checks_the_expression_nearest_to_the_number():
    e = one(r"$\text{FLOPs} = 128 \times 768 = 98,304$")
    assert e.expression == r"128 \times 768" and e.computed == 128 * 768 and e.verdict == "ok"
    assert find_equations(r"$\text{FLOPs} = 98,304$") == []  # a label is no expression


def test_every_arithmetic_side_of_a_chain_is_checked_once():
    text = r"$2^{10} = 1024 = 2^5 \times 2^5 = 1000$"
    assert claims(text) == [("2^{10}", 1024, "ok"), (r"2^5 \times 2^5", 1000, "wrong")]
    # number = expression is checked too, and number = number is not a claim
    assert claims("$12 = 768 / 64$") == [("768 / 64", 12, "ok")]
    assert claims("$1024 = 1{,}024$ and $2^{10} = 1024 = 1{,}024$") == [("2^{10}", 1024, "ok")]


def test_scientific_notation_is_a_stated_number():
    e = one(r"$6 \times 2 \times 10^{9} \times 10^{11} = 1.2 \times 10^{21}$")
    assert e.stated == 12 * 10**20 and e.verdict == "ok"
    assert one(r"$1.5 \times 10^{9} = 1,500,000,000$").verdict == "ok"


def test_separate_claims_on_one_line():
    text = "2 * 3 = 6 and 4 + 4 = 9; 7 - 2 = 5. $1 + 1 = 2$, $3 \\times 3 = 9$"
    assert claims(text) == [("2 * 3", 6, "ok"), ("4 + 4", 9, "wrong"), ("7 - 2", 5, "ok"),
                            ("1 + 1", 2, "ok"), (r"3 \times 3", 9, "ok")]


def test_prose_before_an_expression_is_not_part_of_it():
    assert claims("GPT-2 has 2 * 3 = 6") == [("2 * 3", 6, "ok")]  # a hyphen, not a minus
    assert claims("n-1 = 63") == [("n-1", 63, "unknown")]  # but this is a minus
    assert claims("- 2 * 3 = 6") == [("2 * 3", 6, "ok")]  # a Markdown bullet
    assert claims("* 2 * 3 = 6") == [("2 * 3", 6, "ok")]
    assert claims("I have 2 apples, so 3 * 4 = 12") == [("3 * 4", 12, "ok")]


def test_a_line_starting_with_equals_continues_the_chain():
    align = "\\begin{align}\nF &= 2 \\times 3 \\\\\n  &= 6 \\\\\nG &= 7\n\\end{align}"
    assert claims(align) == [(r"2 \times 3", 6, "ok")]
    assert [(b.name, b.value) for b in find_bindings(align)] == [("F", 6), ("G", 7)]
    assert claims("Total = 2 * 3 + 4\n      = 10") == [("2 * 3 + 4", 10, "ok")]
    assert claims("2 * 3\n\n6 = 6") == []  # an ordinary new line is a new claim


def test_latex_environments_are_math():
    # "hd" is one symbol in math (it would be a word in prose)
    assert claims(r"\begin{equation*} 2 hd = 4 \end{equation*}") == [("2 hd", 4, "unknown")]
    assert claims(r"\[ 2 \times 3 = 6 \]") == [(r"2 \times 3", 6, "ok")]


@pytest.mark.parametrize(
    "text",
    [
        "3/4 of 8 = 6",  # "of" is not an operator: no claim, rather than a wrong one
        # ("50% of 8 = 4" is read as 50% × 8: test_audit_numbers, percentages)
        "1. 2 * 3 = 6",  # a numbered list item: only "2 * 3" is the claim
        "(1) 2 * 3 = 6",
        "Step 2: 2 * 3 = 6",
        "the 2nd layer: 2 * 3 = 6",
        "ratio 16:9 = 1.78 and 2 * 3 = 6",
        "$O(n) = O(2)$ and 2 * 3 = 6",
    ],
)
def test_prose_around_numbers_causes_no_false_alarm(text):
    assert [e.verdict for e in find_equations(text)] in ([], ["ok"])
    assert all(e.expression == "2 * 3" for e in find_equations(text))


# --------------------------------------------------------------------------- symbols


def test_definitions_are_learned_in_order_and_used():
    text = r"$2 h = 24$ then $h = 12$ then $2 h = 24$ then $h = 6$ then $2 h = 24$"
    first, second, third = find_equations(text)
    assert first.verdict == "unknown" and first.solution == 12
    assert second.verdict == "ok" and second.bindings == (("h", 12),)
    assert third.verdict == "wrong" and third.computed == 12
    assert [(b.name, b.value) for b in find_bindings(text)] == [("h", 12), ("h", 6)]


def test_the_seed_style_definition_line():
    text = r"$$\epsilon d = 768 \quad l = 128 \quad h = 12 \quad d = \frac{\epsilon d}{h} = 64$$"
    e = one(text)
    assert e.expression == r"\frac{\epsilon d}{h}" and e.computed == Fraction(768, 12)
    assert e.verdict == "ok" and e.bindings == ((r"\epsilon d", 768), ("h", 12))
    # "d = <expression> = 64" defines d as the chain's number
    assert [(b.name, b.value) for b in find_bindings(text)] == [
        (r"\epsilon d", 768), ("l", 128), ("h", 12), ("d", 64)]


def test_only_a_plain_name_equals_number_defines_a_symbol():
    assert find_bindings("$2h = 24$ $h + 0 = 12$ $h \\times 1 = 12$") == []
    # the name must sit right before "=": here "y" only names the arrow's target
    assert find_bindings(r"Input $\rightarrow y$ size of the embedding = 768") == []
    assert find_bindings("2 * 3 = 6") == []
    # "6ND" is 6 times a symbol (a word glued to a number), so C is not defined as 6
    assert [b.name for b in find_bindings("Using C = 6ND with N = 5 and the 2nd D = 3")] == ["N", "D"]


def test_subscripted_names_are_one_symbol_however_written():
    text = (r"$d_{model} = 768$, $n_{\text{layers}} = 12$, ffn\_size = 3072,"
            r" $d_{\mathrm{model}}^2 \times n_layers + ffn_size = 7,080,960$")
    e = one(text)
    assert e.verdict == "ok" and e.computed == 768**2 * 12 + 3072


def test_math_symbols_multiply_when_adjacent():
    text = "$n = 3$ $d = 5$ $2nd = 30$ $2 n d = 30$ $(n)(d) = 15$"
    # "nd" is a single two-letter symbol; "n d" and "(n)(d)" are products
    assert claims(text) == [("2nd", 30, "unknown"), ("2 n d", 30, "ok"), ("(n)(d)", 15, "ok")]


def test_an_unknown_symbol_is_solved_for_exactly():
    assert one("$3L = 10$").solution == Fraction(10, 3)  # not an integer: fine
    assert one(r"$\frac{768}{h} = 64$").solution == 12
    assert one("$2 d^2 = 1,179,648$").solution == 768  # the positive root
    assert one("$(L + 1)^2 = 0$").solution == -1
    assert one("$L^2 - 5L + 6 = 0$").solution is None  # 2 and 3: ambiguous
    assert one("$L^2 = 2$").solution is None  # irrational
    assert one("$L - L = 3$").solution is None  # no value works
    assert one("$0 \\times L + 5 = 5$").solution is None  # every value works
    assert one("$2^L = 8$").solution is None  # not polynomial in L


def test_several_unknowns_are_listed_in_order_without_a_solution():
    e = one(r"$2 \times b \times a \times b = 10$")
    assert e.unknowns == ("b", "a") and e.solution is None and e.verdict == "unknown"


# --------------------------------------------------------------------------- square roots


@pytest.mark.parametrize("text, expression, verdict", [
    ("√(16) = 4", "√(16)", "ok"),                       # exact: 4 · 4 = 16
    ("√16 × 3 = 12", "√16 × 3", "ok"),
    ("√(16) = 5", "√(16)", "wrong"),
    (r"$\sqrt{4} \times 3 = 6$", r"\sqrt{4} \times 3", "ok"),  # not the fragment 4 × 3
    ("sqrt(2,250,000) = 1,500", "sqrt(2,250,000)", "ok"),  # 1500^2 = 2,250,000
    # 1413.5^2 = 1,997,982.25 <= 2,000,000 <= 1414.5^2 = 2,000,810.25: 1414 to the unit
    (r"$\sqrt{2 \cdot 10^{6}} \approx 1414$", r"\sqrt{2 \cdot 10^{6}}", "ok"),
    # a whole number is read to its last digit, with "=" as with "≈"
    (r"$\sqrt{2 \cdot 10^{6}} = 1414$", r"\sqrt{2 \cdot 10^{6}}", "ok"),
    (r"$\sqrt{2 \cdot 10^{6}} = 1415$", r"\sqrt{2 \cdot 10^{6}}", "wrong"),
    # 1.405^2 = 1.974025 <= 2 <= 1.415^2 = 2.002225; 1.415^2 < 2.0164 (1.42 - 0.005 = 1.415)
    ("√2 ≈ 1.41", "√2", "ok"),
    ("√2 = 1.42", "√2", "wrong"),
    # 2√2 to 0.01: 2.825^2 = 7.980625 <= 8 <= 2.835^2 = 8.037225
    (r"$2\sqrt{2} \approx 2.83$", r"2\sqrt{2}", "ok"),
    # sqrt(6.3e24 × 9.808e24) = sqrt(61.7904e48); 7.8605^2 = 61.78746 <= 61.7904 <= 7.8615^2
    ("sqrt(6.3e24 * 9.808e24) = 7.861e24", "sqrt(6.3e24 * 9.808e24)", "ok"),
    ("sqrt(6.3e24 * 9.808e24) = 7.87e24", "sqrt(6.3e24 * 9.808e24)", "wrong"),
    (r"$2 \times 3 = 6 \sqrt{2}$", r"6 \sqrt{2}", "wrong"),  # 6√2 ≈ 8.49 is not 6
])
def test_a_square_root_is_checked_exactly_or_at_the_stated_precision(text, expression, verdict):
    e = one(text)
    assert (e.expression, e.verdict) == (expression, verdict)


def test_an_irrational_root_s_value_is_shown_rounded_and_its_square_is_the_radicand():
    e = one(r"$\sqrt{2 \cdot 10^{6}} \approx 1414$")
    assert abs(e.computed ** 2 - 2_000_000) < Fraction(1, 10**15)
    assert e.precision == 1


def test_a_root_with_a_defined_symbol_and_roots_that_cannot_be_decided():
    assert one("$d = 64$ and $\\sqrt{d} = 8$").verdict == "ok"
    e = one(r"$\sqrt{-4} = 2$")
    assert (e.verdict, e.reason_code) == ("cannot evaluate", "negative-root")
    # √2·√8 is 4 exactly, but bounds around irrational roots cannot say "= 4" exactly (a
    # whole number of one digit is compared exactly), nor "= 4.000…" to 200 decimals
    e = one(r"$\sqrt{2}\sqrt{8} = 4$")
    assert (e.verdict, e.reason_code) == ("cannot evaluate", "root-undecided")
    e = one(r"$\sqrt{2}\sqrt{8} = 4.000000000000000000000000000000000000000000000000000000"
            r"00000000000000000000000000000000000000000000000000000000000000000000000000000000"
            r"00000000000000000000000000000000000000000000000000000000000000$")
    assert (e.verdict, e.reason_code) == ("cannot evaluate", "root-undecided")
    assert one("7/2 = 3").verdict == "wrong"   # 3.5: one digit is no rounding to read
    assert one("3000/22 = 136").verdict == "ok"  # 136.36…, written to its last digit
    assert one("sqrt(d_k) = 8").verdict == "unknown"
    with pytest.raises(ExpressionError):
        evaluate("√2")  # no exact value
    assert evaluate("√(16) × 2") == 8


@pytest.mark.parametrize("text, expression, verdict", [
    ("∛27 = 3", "∛27", "ok"),                            # 3 · 3 · 3 = 27
    ("∛(27) × 2 = 6", "∛(27) × 2", "ok"),
    (r"$\sqrt[3]{8} \times 3 = 6$", r"\sqrt[3]{8} \times 3", "ok"),  # not the fragment 8 × 3
    (r"$\sqrt[ 3 ]{64} = 4$", r"\sqrt[ 3 ]{64}", "ok"),
    ("cbrt(1000) = 10", "cbrt(1000)", "ok"),
    ("cbrt(1000) = 11", "cbrt(1000)", "wrong"),
    ("8^(1/3) = 2", "8^(1/3)", "ok"),
    ("$8^{1/3} = 3$", "8^{1/3}", "wrong"),
    ("8^(2/3) = 4", "8^(2/3)", "ok"),                    # (8^(1/3))^2 = 2^2
    ("∛(-8) = -2", "∛(-8)", "ok"),                       # an odd root keeps the sign
    (r"$\sqrt[4]{16} = 2$", r"\sqrt[4]{16}", "ok"),      # 2^4 = 16
    ("∜81 = 3", "∜81", "ok"),                            # 3^4 = 81
    # 1.255^3 = 1.976656375 <= 2 <= 1.265^3 = 2.024284625: 1.26 to the hundredth
    ("∛2 ≈ 1.26", "∛2", "ok"),
    ("∛2 ≈ 1.25", "∛2", "wrong"),                        # 1.255^3 < 2: the root is above 1.255
    # 5592.5^3 = 174,911,344,578.125 <= 175e9 <= 5593.5^3 = 175,005,189,525.375
    (r"$(175 \cdot 10^9)^{1/3} \approx 5593$", r"(175 \cdot 10^9)^{1/3}", "ok"),
    (r"$(175 \cdot 10^9)^{1/3} \approx 5595$", r"(175 \cdot 10^9)^{1/3}", "wrong"),
    # 1.4135^2 = 1.99798225 <= 2 <= 1.4145^2 = 2.00081025
    (r"$2^{1/2} \approx 1.414$", "2^{1/2}", "ok"),
])
def test_a_cube_or_nth_root_is_checked_exactly_or_at_the_stated_precision(text, expression,
                                                                        verdict):
    e = one(text)
    assert (e.expression, e.verdict) == (expression, verdict)


def test_an_irrational_cube_root_s_value_is_shown_rounded_and_its_cube_is_the_radicand():
    e = one("cbrt(175e9) ≈ 5593")
    assert abs(e.computed ** 3 - 175 * 10**9) < Fraction(1, 10**9)


def test_roots_that_have_no_value_or_cannot_be_decided():
    e = one(r"$\sqrt[4]{-16} = 2$")
    assert (e.verdict, e.reason_code) == ("cannot evaluate", "negative-root")
    # (∛2)^3 is 2 exactly, but bounds around an irrational root cannot say "= 2" exactly
    e = one(r"$\sqrt[3]{2}^3 = 2$")
    assert (e.verdict, e.reason_code) == ("cannot evaluate", "root-undecided")
    assert one(r"$d = 4096$ and $\sqrt[3]{d^3} = 4096$").verdict == "ok"
    assert evaluate("∛27 × 2") == 6
    with pytest.raises(ExpressionError):
        evaluate("∛2")  # no exact value


# --------------------------------------------------------------------------- not claims


@pytest.mark.parametrize(
    "text",
    [
        r"$(\text{batch_size}, 128, 768) = (\text{batch_size}, 128, 64, 12)$",
        r"$(\text{hidden_size}, 4 * \text{hidden_size}) = (768, 3072)$",
        r"$2 \times 3 \rightarrow 6$",
        r"$2 \times 3 \le 6$ and 2 * 3 <= 6 and 2 * 3 >= 6 and 2 * 3 != 7",
        "2 * 3 == 6 and x += 1 and a := 4 and ====",
        "The ratio 1 token = 4 bytes",
        "Input = output of the attention",
        r"$\sqrt[n]{8} \times 3 = 6$",  # no fragment "8 \times 3" of a root of index n
        r"$\log_2 1024 = 10$",
        "1e99999 = 5 * 2",  # the stated number is too large to use: nothing to compare with
        "L = 128 256 512",  # a name given digits split by spaces: no definition, no claim
        "",
    ],
)
def test_not_a_checkable_claim(text):
    assert find_equations(text) == []


@pytest.mark.parametrize(
    "text, expression, stated, code",
    [
        (r"$\frac{1}{0} = 1$", r"\frac{1}{0}", 1, "division-by-zero"),
        ("3 / (2 - 2) = 5", "3 / (2 - 2)", 5, "division-by-zero"),
        ("$2^{100000} = 1$", "2^{100000}", 1, "exponent-too-large"),
        ("$9^{9^{9}} = 1$", "9^{9^{9}}", 1, "exponent-too-large"),
        ("$2^{1/100} = 1$", "2^{1/100}", 1, "fractional-exponent"),  # a root beyond index 64
        ("$10^{5000} \\times 10^{5000} = 1$", "10^{5000} \\times 10^{5000}", 1, "too-large"),
        ("9" * 1200 + " * 2 = 3", "9" * 1200 + " * 2", 3, "number-too-long"),
        # digit groups split by spaces: one number or several?
        ("12 × 1 000 = 12 000", "12 × 1 000", 12_000, "stated-grouped-digits"),
        ("12 × 1 000 = 12000", "12 × 1 000", 12_000, "grouped-digits"),
        ("12 × 1000 = 12 000", "12 × 1000", 12_000, "stated-grouped-digits"),  # not "= 12"
        ("$12 \\times 1000 = 12\u00a0000$", "12 \\times 1000", 12_000, "stated-grouped-digits"),
    ],
)
def test_an_equation_without_an_exact_value_cannot_be_evaluated(text, expression, stated, code):
    e = one(text)
    check_invariants(text, [e])
    assert (e.expression, e.stated, e.verdict) == (expression, stated, "cannot evaluate")
    assert e.reason_code == code


@pytest.mark.parametrize("text, words", [            # the English of a reason code
    # roots of index 2 to 64 are taken; 1/100 and 3/100 ask for one of index 100
    ("$2^{1/100} = 1$", "the exponent 1/100 asks for a root of index 100, beyond the roots "
                        "taken (of index 2 to 64: x^(1/n), \\sqrt[n]{x}, √, ∛)"),
    ("$2^{3/100} = 1$", "the exponent 3/100 asks for a root of index 100"),
    ("12 × 1 000 = 12000", "“1 000” has its digit groups split by spaces: one number or "
                           "several? (write 1,000 or 1000)"),
    ("$12 \\times 1000 = 12\u00a0000$", "the stated “12\u00a0000” has its digit groups"),
])
def test_a_reason_code_s_english_names_the_figures(text, words):
    assert words in one(text).reason


def test_thin_spaces_and_commas_still_group_digits():
    assert one("12 × 1\u2009000 = 12,000").verdict == "ok"
    assert one(r"$12 \times 1\,000 = 12{,}000$").verdict == "ok"
    assert [e.verdict for e in find_equations("2 × 64 = 128, 256 and 512")] == ["ok"]


def test_shape_equalities_are_parsed_separately():
    text = r"$(\text{batch_size}, 128, 768) = (\text{batch_size}, 128, 64, 12) = (2, 3)$"
    first, second = find_shape_equalities(text)
    assert first == ShapeEquality(1, ("batch_size", 128, 768), ("batch_size", 128, 64, 12))
    assert first.same_size is True  # 128 * 768 == 128 * 64 * 12
    assert second.same_size is None  # batch_size has no counterpart
    assert find_shape_equalities("$(4 * 2, 3) = (8, 3)$")[0].left == (8, 3)
    assert find_shape_equalities("$(2 + 3) = 5$") == []


# --------------------------------------------------------------------------- lines, dollars


def test_line_numbers_and_spans():
    text = "intro\n\n3 x 4 = 12\n$$\n\\text{F} =\n2 \\times\n5 = 11\n$$\nend 1 + 1 = 2\n"
    a, b, c = find_equations(text)
    assert (a.line, b.line, c.line) == (3, 6, 9)
    assert b.expression == "2 \\times\n5" and b.verdict == "wrong"
    assert text[b.span[0]:b.span[1]] == b.expression
    assert b.stated_text == "11"


def test_unbalanced_or_literal_dollars_do_not_swallow_the_text():
    assert claims("It costs $5 and 2 x 3 = 6 dollars") == [("2 x 3", 6, "ok")]
    assert claims("an escaped \\$ sign: $2 \\times 3 = 6$") == [(r"2 \times 3", 6, "ok")]
    assert claims("$$ 2 + 2 = 4") == [("2 + 2", 4, "ok")]
    assert claims("$2 + 2 = 4$ $") == [("2 + 2", 4, "ok")]


def test_adjacent_math_regions_do_not_multiply():
    # "$\rightarrow l$ $ffn = 3072$": l and ffn are not a product
    text = r"Length = 128 $\rightarrow l$ $ffn_size = 3072 \rightarrow F$ $2 \times ffn_size = 6144$"
    assert claims(text) == [(r"2 \times ffn_size", 6144, "ok")]


def test_math_regions_are_not_joined():
    # The seed's line shape: "l" ends one math region, the next starts with a name. With l
    # defined, joining them would claim "l ffn_hidden_size = 3072" (unknown, solution 24).
    text = ("$l = 128$\n"
            r"Length of the input = 128 $\rightarrow l$ $ffn_hidden_size = 3072 \rightarrow F_L$")
    assert find_equations(text) == []
    assert [(b.name, b.value) for b in find_bindings(text)] == [("l", 128),
                                                                ("ffn_hidden_size", 3072)]
    # nor through an operator at a region's edge, or across words of prose
    assert claims(r"$l = 128$ $\rightarrow l$ $-1 + 2 = 1$") == [("-1 + 2", 1, "ok")]
    assert claims(r"$\rightarrow 3$ $+ 4 = 4$") == []  # not "3 + 4 = 4"
    assert claims(r"$l = 128$ Set $l$ and $-2 \times 3 = -6$") == [(r"-2 \times 3", -6, "ok")]
    assert claims(r"$2 \times$ $3 = 6$") == []
    # an operator written in the prose between them does join them
    assert claims(r"$h = 12$ $d = 64$ so $h$ × $d$ = 768") == [("h$ × $d", 768, "ok")]
    assert claims(r"3 × $d$ = 2304") == [("3 × $d", 2304, "unknown")]


def test_a_region_that_opens_with_equals_goes_on_only_across_a_short_gap():
    # The same equation continued (2 × 3 = 6, 2 × 3 ≠ 7): a unit of at most three words
    # between the regions, or one line break (a line ending mid-equation), or both
    assert claims(r"$2 \times 3$ FLOPs $= 6$") == [(r"2 \times 3$ FLOPs", 6, "ok")]
    assert claims(r"$2 \times 3$ FLOPs per token $= 7$") == [
        (r"2 \times 3$ FLOPs per token", 7, "wrong")]
    assert claims("$$2 \\times 3$$\n$$= 6$$") == [(r"2 \times 3", 6, "ok")]
    assert claims("$2 \\times 3$ FLOPs\n$= 7$") == [(r"2 \times 3$ FLOPs", 7, "wrong")]
    # More prose is no continuation, whatever its length: "= 6" then states nothing
    assert claims(r"$2 \times 3$ is what each of the heads costs $= 6$") == []
    assert claims(r"$2 \times 3$ FLOPs in all four $= 6$") == []
    assert claims(r"$2 \times 3$ FLOPs. $= 6$") == []  # punctuation
    assert claims("$2 \\times 3$ FLOPs\nper token\n$= 6$") == []  # two line breaks
    assert claims("$$2 \\times 3$$\n\n$$= 6$$") == []  # a blank line


# --------------------------------------------------------------------------- one expression


def test_one_expression_is_read_like_the_text():
    assert evaluate("3 × 128 tokens × 768 embeddings x 768 * 2 FLOPs") == 3 * 128 * 768 * 768 * 2
    assert (evaluate("1,207,959,552 + (1,179,648 + 301,989,888)")
            == 1_207_959_552 + 1_179_648 + 301_989_888)
    assert evaluate(r"\frac{768}{12} + 2^{10} - 0.5") == Fraction(768, 12) + 2**10 - Fraction(1, 2)
    assert evaluate("4 * hidden_size", {"hidden_size": 768}) == 4 * 768
    assert evaluate("vocab x d_model", {"vocab": 50257, "d_model": 768}) == 50257 * 768
    assert evaluate("2 L", {"L": 7}) == 14            # adjacent names multiply, as in math
    assert evaluate("1 token") == 1                    # a unit word is a label
    assert type(evaluate("6 / 4")) is Fraction and evaluate("6 / 4") == Fraction(3, 2)


def test_one_expressions_symbols_and_solution():
    expr = parse_expression("2 × 12 × L × 64 + 1 × 128 × 128 × 2")
    assert expr.symbols == ("L",) and expr.unknowns({"L": 1}) == ()
    stated = 1_605_632 - 2 * 12 * 128 * 64 - 2 * 768 * 768    # the seed's sum, less two terms
    assert solve(expr, {}, stated) == Fraction(stated - 128 * 128 * 2, 2 * 12 * 64)
    assert solve("2 d^2", None, 2 * 768**2) == 768     # the positive root
    assert solve("a + b", {}, 3) is None                # two unknowns
    assert solve("a + b", {"a": 1}, 3) == 2
    assert solve("2 + 2", {}, 4) is None                # no unknown


@pytest.mark.parametrize("text", ["2 ×", "", "tokens", "(2 + 3", r"\sqrt[n]{8}", "2 = 2", "3 ! 4"])
def test_one_expression_that_does_not_parse_raises(text):
    with pytest.raises(ExpressionError):
        parse_expression(text)


@pytest.mark.parametrize("text, bindings", [("2 / 0", None), ("2 / (3 - 3)", None),
                                            ("2 L", None), ("2 L", {"M": 1}),
                                            ("2^{100000}", None)])
def test_one_expression_without_a_value_raises(text, bindings):
    with pytest.raises(ExpressionError):
        evaluate(text, bindings)


def test_additive_terms_flatten_bracketed_sums_with_their_signs():
    terms = additive_terms("1,207,959,552 + 1,605,632 + (1,179,648 + 301,989,888)")
    assert [(s, t.text) for s, t in terms] == [(1, "1,207,959,552"), (1, "1,605,632"),
                                               (1, "1,179,648"), (1, "301,989,888")]
    terms = additive_terms("-(2 + 3) - (4 - (5 + 6)) + (7 × 8)")
    assert [(s, t.text) for s, t in terms] == [(1, "-(2 + 3)"), (-1, "4"), (1, "5"), (1, "6"),
                                               (1, "(7 × 8)")]
    assert sum(s * evaluate(t) for s, t in terms) == -(2 + 3) - (4 - (5 + 6)) + 7 * 8
    (only,) = additive_terms("128 tokens × 768")
    assert only[0] == 1 and only[1].text == "128 tokens × 768"   # the label between stays


def test_factors_of_a_product_with_their_text():
    fs = factors("3 × 128 tokens × 768 embeddings x 768 / 2 FLOPs")
    assert [(op, f.text) for op, f in fs] == [("*", "3"), ("*", "128"), ("*", "768"),
                                              ("*", "768"), ("/", "2")]
    assert [(op, f.text) for op, f in factors("(2 × 3)")] == [("*", "2"), ("*", "3")]
    assert [(op, f.text) for op, f in factors("(2 × 3) × L")] == [("*", "(2 × 3)"), ("*", "L")]
    assert [f.symbols for _, f in factors("2 h d_{head}")] == [(), ("h",), ("d_head",)]
    assert [f.text for _, f in factors("2 + 3")] == ["2 + 3"]   # a sum is one factor
    assert [f.text for _, f in factors("-2 × 3")] == ["-2", "3"]


# --------------------------------------------------------------------------- exactness


def test_huge_integers_are_exact():
    a, b = 123456789012345678901234567890, 987654321098765432109876543210
    assert one(f"{a:,} * {b:,} = {a * b:,}").verdict == "ok"
    e = one(f"$2^{{1000}} + 1 = {2**1000}$")
    assert e.verdict == "wrong" and e.difference == -1
    e = one(f"$10^{{40}} / 3 = {10**40 // 3}$")
    assert e.difference == Fraction(10**40 // 3) - Fraction(10**40, 3)


def test_results_are_frozen_and_hold_no_floats():
    eqs = find_equations(FIXTURE.read_text(encoding="utf-8"))
    for e in eqs:
        values = [e.stated, e.computed, e.difference, e.solution, *(v for _, v in e.bindings)]
        assert all(v is None or type(v) is Fraction for v in values)
    with pytest.raises(dataclasses.FrozenInstanceError):
        eqs[0].verdict = "ok"


# --------------------------------------------------------------------------- the fixture

D, H, N = 512, 8, 64
D_HEAD = Fraction(D, H)
# (line, expression, independent value of the expression, stated number)
EXPECTED = [
    (4, r"\frac{d}{h}", Fraction(D, H), 64),
    (8, r"2 \times n \times d \times d", 2 * N * D * D, 33_554_432),
    (9, r"3 \times 33{,}554{,}432", 3 * 33_554_432, 100_663_296),
    (10, "3 x 64 x 512", 3 * 64 * 512, 98_304),
    (11, r"2 \times 64 \times 512 \times 512", 2 * 64 * 512 * 512, 33_554_423),  # slip
    (15, r"2 \cdot n^2 \cdot d_{head}", 2 * N**2 * D_HEAD, 524_288),
    (16, r"h \times 524,288", H * 524_288, 4_194_304),
    (16, "n(n+1)/2", Fraction(N * (N + 1), 2), 2080),
    (17, r"5 \times n^{2} \times h", 5 * N**2 * H, 163_840),
    (19, r"\left( 2 \times n \right) \times n \times d_{head} \times h",
     2 * N * N * D_HEAD * H, 4_194_304),
    (24, r"2 \times n \times d \times 4d \times 2", 2 * N * D * 4 * D * 2, 268_435_456),
    (24, "2^{28}", 2**28, 268_435_456),
    (27, "4 × 512", 4 * 512, 2048),
    (27, "2048 ÷ 512", 2048 // 512, 4),
    (27, "2 * 2048", 2 * 2048, 4096),
    (28, "0.1 + 0.2", Fraction(1, 10) + Fraction(2, 10), Fraction(3, 10)),
    (28, r"\frac{1}{3} + \frac{1}{6}", Fraction(1, 3) + Fraction(1, 6), Fraction(1, 2)),
    (29, "128^2", 128**2, 16_384),
    (29, r"4096 \div 8", 4096 // 8, 512),
    (29, "512 − 64", 512 - 64, 448),
    (29, "(n + 1)(n + 2)", (N + 1) * (N + 2), 4290),
    (33, "100,663,296 + 4,194,304 + 163,840 + 268,435,456",
     100_663_296 + 4_194_304 + 163_840 + 268_435_456, 373_456_896),
    (34, "12 * 373,456,896", 12 * 373_456_896, 4_481_482_700),  # rounded: wrong
    (35, r"\frac{4,481,482,752}{n}", Fraction(4_481_482_752, N), 70_023_168),
    (35, r"1.5 \times 10^{9}", Fraction(3, 2) * 10**9, 1_500_000_000),
]


def test_fixture_verdicts_match_independent_arithmetic():
    text = FIXTURE.read_text(encoding="utf-8")
    checked = [e for e in find_equations(text) if e.verdict != "unknown"]
    assert [(e.line, e.expression, e.computed, e.stated) for e in checked] == EXPECTED
    for e, (_, _, value, stated) in zip(checked, EXPECTED):
        assert e.verdict == ("ok" if value == stated else "wrong")
        assert e.difference == stated - value
    assert [e.line for e in checked if e.verdict == "wrong"] == [11, 34]


def test_fixture_unknowns_bindings_and_shapes():
    text = FIXTURE.read_text(encoding="utf-8")
    (unknown,) = [e for e in find_equations(text) if e.verdict == "unknown"]
    assert unknown.line == 18 and unknown.unknowns == ("L",)
    assert unknown.solution == Fraction(65_536, 2 * D)
    assert [(b.line, b.name, b.value) for b in find_bindings(text)] == [
        (3, "d", D), (3, "h", H), (3, "n", N), (4, "d_head", D_HEAD)]
    (shape,) = find_shape_equalities(text)
    assert shape.line == 39 and shape.same_size is (64 * 512 == 64 * 8 * 64)


# --------------------------------------------------------------------------- properties

MATH_OPS = {"+": ["+"], "-": ["-", "\u2212"], "*": [r"\times", r"\cdot", "*"],
            "/": [r"\div", "/", "frac"]}
PLAIN_OPS = {"+": ["+"], "-": ["-"], "*": ["*", "x", "×", "·"], "/": ["/", "÷"]}
APPLY = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
         "/": lambda a, b: a / b if b else None}


@st.composite
def arithmetic(draw, depth: int = 3):
    """A random expression tree with its exact value (None if it divides by zero)."""
    if depth == 0 or draw(st.booleans()):
        n = draw(st.integers(0, 10**12) | st.integers(0, 99))
        return ("num", n), Fraction(n)
    op = draw(st.sampled_from("+-*/"))
    (a, va), (b, vb) = draw(arithmetic(depth - 1)), draw(arithmetic(depth - 1))
    value = APPLY[op](va, vb) if va is not None and vb is not None else None
    return (op, a, b), value


def render(tree, math: bool, draw) -> str:
    """The tree as a writer might type it, in math or plain text, with optional unit labels."""
    if tree[0] == "num":
        n = tree[1]
        text = draw(st.sampled_from([f"{n:,}", f"{n}", f"{n:_}"]
                                    + ([f"{n:,}".replace(",", "{,}")] if math else [])))
        if draw(st.booleans()):
            units = [r" \text{ FLOPs}", r"\,\mathrm{tokens}"] if math else [" tokens", " FLOPs"]
            text += draw(st.sampled_from(units))
        return text
    op, a, b = tree
    symbol = draw(st.sampled_from((MATH_OPS if math else PLAIN_OPS)[op]))
    left, right = render(a, math, draw), render(b, math, draw)
    if symbol == "frac":
        return rf"\frac{{{left}}}{{{right}}}"
    wrap = [("(", ")"), (r"\left(", r"\right)"), ("[", "]")] if math else [("(", ")")]
    opening, closing = draw(st.sampled_from(wrap))
    parts = [f"{opening}{s}{closing}" if t[0] != "num" else s for s, t in ((left, a), (right, b))]
    return f"{parts[0]} {symbol} {parts[1]}"


def write_number(value: Fraction) -> str | None:
    """A Fraction as a terminating decimal with thousands separators, if it is one."""
    sign, value = ("-" if value < 0 else ""), abs(value)
    for places in range(0, 30):
        scaled = value * 10**places
        if scaled.denominator == 1:
            whole, frac = divmod(int(scaled), 10**places)
            return sign + f"{whole:,}" + (f".{frac:0{places}d}" if places else "")
    return None


@FUZZ
@given(st.data(), arithmetic(), st.booleans(), st.integers(-3, 3))
def test_rendered_random_arithmetic_round_trips(data, tree_value, math, offset):
    tree, value = tree_value
    assume(value is not None and tree[0] != "num")
    stated = write_number(value + offset)
    assume(stated is not None)
    expression = render(tree, math, data.draw)
    line = f"$${expression} = {stated}$$" if math else f"Total: {expression} = {stated} FLOPs."
    e = one(f"Some prose first.\n\n{line}\n")
    assert e.line == 3 and e.computed == value and e.stated == value + offset
    assert e.verdict == ("ok" if offset == 0 else "wrong") and e.difference == offset


@FUZZ
@given(st.text())
def test_arbitrary_text_never_raises(text):
    eqs = find_equations(text)
    check_invariants(text, eqs)
    find_bindings(text)
    find_shape_equalities(text)


PIECES = ["1", "12", "1,024", "1{,}024", r"16\,384", "0.5", "10^{99999}", "9^9^9^9", "1e9999",
          "2^{10000}", "9" * 1200, " ", "\n", "$", "$$", "{", "}", "(", ")", "[", "]", "=", "==",
          "+", "-", "\u2212", "*", "**", "/", "^", r"\times ", r"\cdot ", r"\div ", " x ", "×",
          r"\frac", r"\frac{", "}{", r"\left(", r"\right)", r"\text{FLOPs}", r"\text{ (of }",
          r"\mathrm{d}", "L", "h", r"\epsilon d", "d_{model}", "_", r"\quad ", r"\rightarrow ",
          r"\sqrt", ",", ", ", ".", "%", r"\%", "tokens", "a", r"\\", "\\", "²", "&", "`"]


@FUZZ
@given(st.lists(st.sampled_from(PIECES), max_size=60).map("".join))
def test_random_mixes_of_the_grammar_never_raise(text):
    check_invariants(text, find_equations(text))
    for shape in find_shape_equalities(text):
        assert shape.same_size in (True, False, None)


@pytest.mark.parametrize(
    "text",
    [
        "$" + " + ".join(["1"] * 20_000) + " = 20000$",  # longer than the search window
        "(" * 3000 + "1 = 1" + ")" * 3000,
        "-" * 5000 + "1 = 1",
        "2^" * 3000 + "2 = 4",
        r"\text{" * 2000 + "1 + 1 = 2",
        ("( 1 + " * 250 + "1 = 2 ") * 20,
        "$" * 5001 + "1 + 1 = 2",
        ("word " * 3000 + "1 + 1 = 2\n") * 3,
        "9" * 5000 + " * 2 = 3",
        "$10^{4000} \\times 10^{4000} \\times 10^{4000} \\times 10^{4000} = 1$",
    ],
)
def test_adversarial_inputs_terminate_and_return_equations(text):
    eqs = find_equations(text)
    assert isinstance(eqs, list)
    check_invariants(text, eqs)


@pytest.mark.parametrize("before, after", [("", ""), ("-", ""), ("(", ")"), ("h + ", "")])
def test_an_expression_longer_than_the_window_cannot_be_evaluated_not_cut(before, after):
    long_sum = before + " + ".join(["1"] * 1000) + after
    for text in (f"${long_sum} = 1000$", f"1000 = {long_sum}\n", f"Total: {long_sum} = 1000."):
        e = one(text)
        check_invariants(text, [e])
        assert e.expression == long_sum and e.stated == 1000      # the whole sum, no fragment
        assert e.verdict == "cannot evaluate" and e.reason_code == "too-long"
    assert one("$" + " + ".join(["1"] * 100) + " = 100$").verdict == "ok"


@pytest.mark.parametrize("text", [
    r"\sqrt[n]{" + " + ".join(["1"] * 300) + "} = 5",     # part of an unsupported expression
    "-" * 5000 + "1 = 1",
    "2^" * 3000 + "2 = 4",
    "word " * 3000 + "= 12",
    "5 = " + " + ".join(["1"] * 200) + " + (1 + 1",    # no fragment cut at the window either
])
def test_long_runs_that_are_no_expression_are_not_reported(text):
    assert find_equations(text) == []


@pytest.mark.parametrize("whole, with_fraction, value", [
    # the same whole-number steps, alone and beside a fraction (which the int path cannot
    # take): one value, worked out by hand
    ("12 / 4 × 3 = 9", "12 / 4 × 3 × 0.5 = 4.5", Fraction(9, 2)),
    ("2^10 - 24 = 1000", "(2^10 - 24) × 0.25 = 250", Fraction(250)),
    ("(7 - 9)^3 = -8", "(7 - 9)^3 × 1.5 = -12", Fraction(-12)),
    ("7 / 2 × 2 = 7", "7 / 2 × 2 × 0.5 = 3.5", Fraction(7, 2)),
])
def test_whole_number_steps_give_one_value_whatever_surrounds_them(whole, with_fraction, value):
    (a,) = find_equations(whole)
    (b,) = find_equations(with_fraction)
    assert a.verdict == b.verdict == "ok"
    assert b.computed == value and a.computed == int(whole.rpartition("=")[2])


@pytest.mark.parametrize("whole, code", [
    ("$2^{20000} = 1$", "exponent-too-large"),
    ("$10^{5000} \\times 10^{5000} = 1$", "too-large"),
    ("3 / (2 - 2) = 1", "division-by-zero"),
])
def test_a_whole_number_step_beyond_the_limits_says_why_beside_a_fraction_too(whole, code):
    beside = whole.replace(" = 1", " \\times 0.5 = 1" if "$" in whole else " × 0.5 = 1")
    for text in (whole, beside):
        (e,) = find_equations(text)
        assert (e.verdict, e.reason_code) == ("cannot evaluate", code), text


def test_roots_up_to_index_64_are_taken_as_the_reason_for_a_larger_index_says():
    assert one("$(2^{64})^{1/64} = 2$").verdict == "ok"          # (2^64)^(1/64) = 2
    assert one("$(3^{128})^{2/64} = 81$").verdict == "ok"        # 3^(128·2/64) = 3^4
    assert one("$(2^{65})^{1/65} = 2$").reason_code == "fractional-exponent"
