"""The numbers people write in FLOP write-ups, read as a careful reader reads them (issue 11,
items 1 and 2): magnitudes, percentages, names with digits, Markdown that swallows "*",
remarks after the stated value, "expression = expression", fenced code, and stated values
compared at the precision they are written to (with =, ≈, ~, \\approx, \\sim).

Every expected value is worked out here by hand; each test asserts on the findings."""

from __future__ import annotations

from fractions import Fraction

import pytest

from flopcalc.audit.arithmetic import find_bindings, find_equations, flop_unit
from flopcalc.audit.figures import _reading as figure_unit
from flopcalc.audit.figures import find_numbers

GPT2 = 124_439_808          # GPT-2 small, tied embeddings: its published parameter count
GPT3 = 175 * 10**9


def found(text: str) -> list[tuple[str, Fraction, str]]:
    return [(e.expression, e.stated, e.verdict) for e in find_equations(text)]


@pytest.mark.parametrize("text, stated", [
    ("6 * 124M = 744M", 744 * 10**6),
    ("12 x 64 = 0.768k", 768),
    ("2 x 240.7M = 481.4M", Fraction(4814, 10) * 10**6),
    ("2^{30} = 1.07B", Fraction(107, 100) * 10**9),
    ("6 x 8B x 15T = 7.2e23", 72 * 10**22),
    ("It costs 2 x 0.6 T = 1.2 T FLOPs.", Fraction(12, 10) * 10**12),   # with a space
    ("So 1,000 x 3.3 million = 3.3 billion", Fraction(33, 10) * 10**9),
    ("and 67 x 100M = 6.7e9 here", 67 * 10**8),
    (r"$1.2 \times 10^{12} = 1.2T$", Fraction(12, 10) * 10**12),
])
def test_magnitude_suffixes_and_words_are_read(text, stated):
    (e,) = find_equations(text)
    assert e.stated == stated and e.verdict == "ok"


def test_a_magnitude_is_never_a_unit_or_a_symbol():
    assert found("2 x 3 = 6 MB") == [("2 x 3", 6, "ok")]              # MB is a unit
    assert found("$2 T = 6$")[0][2] == "unknown"                      # in math, T is a symbol
    for text in ("3 T x 2 = 6", "3 T * 2 = 6"):             # before an operator: a symbol
        assert all(e.computed != 3 * 10**12 * 2 and e.stated != 3 * 10**12 and e.verdict != "wrong"
                   for e in find_equations(text))


@pytest.mark.parametrize("text", ["GPT-2 = 124M parameters", "Llama-3.1 = 8B",
                                  "GPT-3 has 175B parameters; GPT-3 = 175B"])
def test_a_model_name_with_digits_is_no_equation(text):
    assert find_equations(text) == []


def test_rounded_figures_hold_when_the_exact_value_rounds_to_them():
    # GPT-2 small: 12 blocks of 12 d^2 + 13 d, embeddings (50257 + 1024) d, final LN 2d
    d = 768
    assert 12 * (12 * d * d + 13 * d) + (50257 + 1024) * d + 2 * d == GPT2
    text = (f"12 x (12 x {d}^2 + 13 x {d}) + (50257 + 1024) x {d} + 2 x {d} = 124M\n"
            f"12 x (12 x {d}^2 + 13 x {d}) + (50257 + 1024) x {d} + 2 x {d} = 124.4M\n"
            f"12 x (12 x {d}^2 + 13 x {d}) + (50257 + 1024) x {d} + 2 x {d} = 125M\n"
            f"12 x (12 x {d}^2 + 13 x {d}) + (50257 + 1024) x {d} + 2 x {d} = 124.5M\n")
    eqs = find_equations(text)
    assert [e.verdict for e in eqs] == ["ok", "ok", "wrong", "wrong"]
    assert [e.precision for e in eqs] == [10**6, 10**5, 10**6, 10**5]
    assert eqs[2].difference == 125 * 10**6 - GPT2                    # still exact


def test_compute_estimates_at_their_precision():
    # C = 6 N D for GPT-3: 6 x 175B x 300B = 3.15e23 FLOPs
    assert 6 * GPT3 * 300 * 10**9 == 315 * 10**21
    assert found("6 x 175B x 300B = 3.15e23")[0][2] == "ok"
    assert found("6 x 175B x 300B = 3.0e23")[0][2] == "wrong"
    assert found("6 x 175B x 300B = 3.2e23")[0][2] == "ok"           # a tie: either way
    assert found("6 x 175B x 300B = 3.1e23")[0][2] == "ok"


def test_plain_integers_are_compared_exactly():
    assert found("3 x 128 x 768 = 294,912") == [("3 x 128 x 768", 294_912, "ok")]
    (e,) = find_equations("3 x 128 x 768 = 295,000")
    assert e.verdict == "wrong" and e.precision is None


@pytest.mark.parametrize("text, verdict", [
    ("3000/22=136", "ok"),          # 136.36 is 136 to the unit, as "= 136.4" is to a tenth
    ("3000/22=137", "wrong"),
    ("3000/22=136.4", "ok"),
    ("1000/7 = 142", "wrong"),      # 142.857 is 143 to the unit
])
def test_a_whole_number_stated_for_a_fraction_is_read_to_its_last_digit(text, verdict):
    (e,) = find_equations(text)
    assert e.verdict == verdict
    assert e.precision == (Fraction(1) if "." not in text else Fraction(1, 10))


@pytest.mark.parametrize("text, verdict, precision", [
    (r"$12 \cdot 768^2 \approx 7.08M$", "ok", 10**4),     # 7,077,888
    (r"$12 \cdot 768^2 \sim 7.1M$", "ok", 10**5),
    ("12 x 768^2 ≈ 7,000,000", "ok", 10**6),
    ("12 x 768^2 ≈ 7,080,000", "ok", 10**4),
    ("12 x 768^2 ≈ 7,070,000", "wrong", 10**4),
    ("12 x 768^2 = ~7.1M", "ok", 10**5),
    ("12 x 768^2 ~ 7.2M", "wrong", 10**5),
    ("1/3 = 0.33", "ok", Fraction(1, 100)),
    ("1/3 = 33%", "ok", Fraction(1, 100)),
    ("1/3 = 0.34", "wrong", Fraction(1, 100)),
    ("2 × 3 ≈ 21", "wrong", 1),
])
def test_approximate_figures_are_checked_at_the_precision_written(text, verdict, precision):
    (e,) = find_equations(text)
    assert e.verdict == verdict and e.precision == precision
    assert e.approximate == any(mark in text for mark in ("≈", "~", r"\approx", r"\sim"))


def test_percentages_and_unicode_fractions():
    assert found("a 50% share: 0.5 × 200 = 100") == [("0.5 × 200", 100, "ok")]
    assert found("25% x 400 = 100") == [("25% x 400", 100, "ok")]
    assert found("½ × 4 = 2") == [("½ × 4", 2, "ok")]
    assert found("¾ × 4 = 2") == [("¾ × 4", 2, "wrong")]


def test_a_percentage_of_a_number_is_their_product():
    assert found("so 50% of 1,000 = 500 here") == [("50% of 1,000", 500, "ok")]
    assert found("50% of 8 = 4") == [("50% of 8", 4, "ok")]
    # 40% of 312 = 124.8 (312 × 4 / 10), not 125
    assert found("40% of 312 TFLOP/s = 124.8 TFLOP/s") == [
        ("40% of 312 TFLOP/s", Fraction(1248, 10), "ok")]
    # a whole number stated for a fraction is read to its last digit: 124.8 is 125 there
    assert found("40% of 312 = 125")[0][2] == "ok"
    assert found("40% of 312 = 126")[0][2] == "wrong"
    assert found("MFU is 40% of peak and 2 × 3 = 6") == [("2 × 3", 6, "ok")]


def test_markdown_emphasis_that_swallowed_the_stars_is_a_product():
    assert 25 * 3 * 102_400 == 7_680_000
    assert found("25 *3* 102,400 = 7,680,000") == [("25 *3* 102,400", 7_680_000, "ok")]
    assert found("We use *3* layers, and 2 x 3 = 6.") == [("2 x 3", 6, "ok")]


def test_a_remark_in_brackets_after_the_stated_value_is_not_a_factor():
    assert found("2 × 80 = 160 (K and V × 80 layers)") == [("2 × 80", 160, "ok")]
    assert found("2 × 80 = 161 (K and V, for 80 layers)")[0][2] == "wrong"
    assert found("$2 (n + 1) = 8$")[0][2] == "unknown"              # a factor, in math


def test_expression_equals_expression():
    assert found("2 + 2 = 3 + 1") == [("2 + 2", 4, "ok")]
    assert found("2 + 2 = 3 + 2") == [("2 + 2", 5, "wrong")]
    (e,) = find_equations(r"$d = 768$ so $12 d^2 = 12 \times 768^2$")
    assert e.verdict == "ok" and e.stated_text == r"12 \times 768^2"
    assert found("1 + 1 = 1 + 2 = 3") == [("1 + 1", 3, "wrong"), ("1 + 2", 3, "ok")]


def test_fenced_code_is_skipped_unless_asked():
    text = ("Prose: 2 x 3 = 6.\n\n```python\nflops = 2 * 3  # = 5\nx = 2 + 2 = 5\n```\n"
            "~~~\n1 + 1 = 3\n~~~\n\nAfter: 2 x 4 = 8.\n")
    eqs = find_equations(text)
    assert [(e.expression, e.line) for e in eqs] == [("2 x 3", 1), ("2 x 4", 11)]
    assert [e.verdict for e in find_equations(text, code=True)] == ["ok", "wrong", "wrong", "ok"]
    assert find_bindings("```\nh = 12\n```\n") == []
    unclosed = "2 x 3 = 6\n```\n2 + 2 = 5\n"                         # runs to the end
    assert found(unclosed) == [("2 x 3", 6, "ok")]


# ------------------------------------------------------------------ definitions (item 3)

def test_a_name_with_a_remark_in_brackets_is_a_definition():
    (b,) = find_bindings("$H$ (heads) = $25$ and $2 H = 50$")
    assert (b.name, b.value) == ("H", 25)
    assert found("$H$ (heads) = $25$ and $2 H = 50$") == [("2 H", 50, "ok")]
    assert [(b.name, b.value) for b in find_bindings("d (model width) = 768, so 2 x d = 1536")] \
        == [("d", 768)]
    assert found("d (model width) = 768, so 2 x d = 1536") == [("2 x d", 1536, "ok")]


def test_a_definition_after_its_first_use_applies_there():
    (e,) = find_equations("$2 L d = 196,608$ where $d = 768$ and $L = 128$.")
    assert 2 * 128 * 768 == 196_608
    assert e.verdict == "ok" and e.defined_later == ("L", "d") and e.computed == 196_608
    (e,) = find_equations("$2 L d = 196,600$ where $d = 768$ and $L = 128$.")
    assert e.verdict == "wrong" and e.difference == -8
    # defined twice with different values: which one is meant is unclear, it stays unknown
    (e,) = find_equations("$2 d = 1536$, then $d = 768$, later $d = 1024$.")
    assert e.verdict == "unknown" and e.solution == 768


def test_an_equation_with_unknowns_says_what_it_needs():
    from flopcalc.audit.report import audit_text, unknown_text

    texts = ["$2 L \\times 64 = 16,384$", "$L - L + 3 = 3$", "$2 d L = 10$", "$L^2 = 2$"]
    eqs = [find_equations(t)[0] for t in texts]
    assert [(e.solution, e.holds_for_any) for e in eqs] == [
        (128, False), (None, True), (None, False), (None, False)]
    assert eqs[2].unknowns == ("d", "L")
    assert [unknown_text(e) for e in eqs] == [
        "holds when L = 128", "holds for any L", "2 unknowns: d and L",
        "no single value of L makes it hold"]
    assert audit_text(texts[0]).exit_code == 3              # nothing with a verdict


# ------------------------------------------------------------------ units and notation

def test_superscript_exponents():
    assert 6 * 175 * 300 * 10**18 == 315 * 10**21
    assert found("6 × (175 × 10⁹) × (300 × 10⁹) = 3.15 × 10²³")[0][2] == "ok"
    assert found("128² = 16,384") == [("128²", 16_384, "ok")]
    assert found("10⁻³ × 1000 = 1") == [("10⁻³ × 1000", 1, "ok")]


def test_a_side_without_magnitude_is_read_in_the_stated_unit():
    # 67 + 8.4 + 8.4 + 67 + 235 + 235 + 235 = 855.8, in millions as the stated 856M is
    (e,) = find_equations("Per layer: 67 + 8.4 + 8.4 + 67 + 235 + 235 + 235 = 856M.")
    assert e.verdict == "ok" and e.scale == 6 and e.computed == Fraction(8558, 10)
    assert e.difference == 856 * 10**6 - 8558 * 10**5
    assert found("2 × 3 = 7M")[0][2] == "wrong"
    assert found("2M × 3 = 6")[0][2] == "wrong"             # a magnitude of its own: no


def test_a_spaced_magnitude_the_stated_number_has_is_that_magnitude_on_the_side_too():
    # "1.2 T / 4": T before an operator would be a symbol, but the stated 0.3 T has it as
    # its magnitude: 1.2e12 / 4 = 3e11
    (e,) = find_equations("So 1.2 T / 4 = 0.3 T per GPU.")
    assert (e.verdict, e.computed, e.stated, e.unknowns) == ("ok", 3 * 10**11, 3 * 10**11, ())
    assert found("So 1.2 T / 4 = 0.4 T per GPU.")[0][2] == "wrong"
    # or the side is in the stated unit: (4 + 2) million is 6 M; neither reading gives 7 M
    (e,) = find_equations("We get 4 M + 2 = 6 M rows.")
    assert (e.verdict, e.scale, e.computed) == ("ok", 6, 6)
    assert found("We get 4 M + 2 = 7 M rows.")[0][2] == "wrong"
    assert found("$2 T = 6$")[0][2] == "unknown"         # no magnitude stated: T is a symbol


def test_sizes_in_bytes_against_kb_mb_gb_either_decimal_or_binary():
    kv = 2 * 1 * 2048 * 32 * 32 * 128 * 2
    assert kv == 1_073_741_824 == 2**30
    (e,) = find_equations("2 × 1 × 2048 × 32 × 32 × 128 × 2 = 1.07 GB")
    assert e.verdict == "ok" and e.unit == 10**9
    (e,) = find_equations("2 × 1 × 2048 × 32 × 32 × 128 × 2 = 1 GiB")
    assert e.verdict == "ok" and e.unit == 2**30
    assert found("2 × 1 × 2048 × 32 × 32 × 128 × 2 = 1.2 GB")[0][2] == "wrong"
    (e,) = find_equations("65 KB × 100,000 = 6.5 GB")     # KB on the left side too
    assert e.verdict == "ok" and e.unit == 10**9
    assert found("2 x 3 = 6 GB") == [("2 x 3", 6, "ok")]


def test_a_hyphen_after_a_number_in_a_compound_word_is_no_minus():
    (e,) = find_equations("At that rate a 100K-token context takes 65 KB × 100,000 = 6.5 GB.")
    assert e.expression == "65 KB × 100,000" and e.verdict == "ok"
    assert found("n-1 = 3")[0][2] == "unknown" and found("3-1 = 2")[0][2] == "ok"


def test_durations_in_seconds_against_minutes_hours_days_weeks():
    # 6ND for GPT-3 over 1,024 GPUs at 312 TFLOP/s and 57% utilisation
    seconds = Fraction(315 * 10**21, 1024 * 312 * 10**12) / Fraction(57, 100)
    assert round(seconds / 86400) == 20
    (e,) = find_equations("3.15e23 / (1024 × 312e12 × 0.57) ≈ 20 days")
    assert e.verdict == "ok" and e.unit == 86400 and e.computed == seconds
    assert find_equations("3.15e23 / (1024 × 312e12 × 0.57) ≈ 25 days")[0].verdict == "wrong"
    assert find_equations("3,600 × 24 = 1 day")[0].unit == 86400
    assert found("20 days × 24 = 480 hours") == [("20 days × 24", 480, "ok")]
    # seconds written apart after the number, stated as a duration: 1.8e6 / 86,400 = 20.83
    (e,) = find_equations("That is 1.8e6 s ≈ 21 days of training.")
    assert (e.verdict, e.unit, e.unknowns) == ("ok", 86400, ())
    assert found("That is 1.8e6 s ≈ 25 days of training.")[0][2] == "wrong"
    assert find_equations("7200 s = 2 hours")[0].unit == 3600
    assert find_equations("so 6 s = 12 and")[0].unknowns == ("s",)  # no duration: a symbol


def test_a_rounded_middle_of_a_chain_stands_for_every_value_it_rounds():
    # 8.4e22 / 1.56e14 = 538,461,538 s = 6,232.2 days, written rounded as 5.4e8 s: the
    # 6,232 days that follow hold, since 5.35e8 to 5.45e8 s is 6,192 to 6,308 days
    exact = Fraction(84 * 10**21, 156 * 10**12)
    assert round(exact / 86400) == 6232 and 535 * 10**6 / 86400 < 6232 < 545 * 10**6 / 86400
    text = "GPU time: 8.4e22 / (312e12 × 0.5) = 5.4e8 s ≈ 6,232 days"
    assert [e.verdict for e in find_equations(text)] == ["ok", "ok"]
    # but no value of 5.35e8 to 5.45e8 s is 6,500 days (545e6 / 86,400 = 6,307.9)
    assert found("That is 5.4e8 s ≈ 6,500 days.")[0][2] == "wrong"
    assert found("so 7.92 GB ≈ 7.2 GiB")[0][2] == "wrong"   # 7.925e9 / 2^30 = 7.38 at most


def test_one_letter_symbols_written_apart_in_prose_multiply():
    text = "N = 175B\nD = 300B\n6 N D = 3.15e23\n"
    assert 6 * 175 * 300 * 10**18 == 315 * 10**21
    assert found(text) == [("6 N D", 315 * 10**21, "ok")]
    # "6 N = ..." is a product, not a second definition of N
    assert [b.name for b in find_bindings("N = 175B\n6 N = 1.05T\n")] == ["N"]
    assert found("N = 175B\n6 N = 1.05T\n")[0][2] == "ok"
    assert found("See figure 3 B: 2 x 3 = 6") == [("2 x 3", 6, "ok")]


@pytest.mark.parametrize("unit, power, macs", [
    ("FLOPs", 0, False), ("kFLOPs", 3, False), ("MFLOPs", 6, False), ("MFLOP", 6, False),
    ("GFLOPs", 9, False), ("TFLOPS", 12, False), ("PFLOPs", 15, False), ("EFLOPs", 18, False),
    ("teraFLOPs", 12, False), ("exaflops", 18, False), ("zettaFLOPs", 21, False),
    ("GMACs", 9, True), ("MACs", 0, True),
])
def test_a_flop_unit_means_one_power_of_ten_to_both_checks(unit, power, macs):
    # the arithmetic check: 2 × 3 × 10^power counted, stated as 6 of the unit
    (e,) = find_equations(f"2 × 3 × 10^{power} = 6 {unit}")
    assert (e.verdict, e.computed, e.unit) == ("ok", 6 * 10**power, 10**power)
    assert find_equations(f"2 × 3 × 10^{power} = 7 {unit}")[0].verdict == "wrong"
    # the figure check reads the figure with the same unit, of the same size (a count of
    # multiply-adds implies 1 FLOP per multiply-add, of FLOPs 2)
    (n,) = find_numbers(f"It costs 6 {unit}.")
    assert (n.value, n.unit) == (6, unit)
    assert figure_unit(unit) == ("flops", (10**power,), 1 if macs else 2)
    assert flop_unit(unit) == (power, macs)


def test_a_lowercase_m_is_never_mega_and_macs_do_not_convert_to_flops():
    assert flop_unit("mflops") is None and flop_unit("mFLOPs") is None
    assert found("2 × 3 = 6 mflops") == [("2 × 3", 6, "ok")]     # no unit: a plain 6
    assert find_equations("5 GMACs = 10 GFLOPs") == []          # two kinds: no conversion
    # MAC is capitals: "Macs" and "macs" are computers, no count of multiply-adds
    assert flop_unit("Macs") is None and flop_unit("macs") is None
    assert found("2 × 3 = 6 Macs") == [("2 × 3", 6, "ok")]


@pytest.mark.parametrize("text, computed", [
    # B glued to 70 on the line is a billion: the spaced "70 B" before "x" is one too,
    # 6 × 70·10^9 × 70·10^9 × 20 = 5.88 × 10^23, 0.6 million exa (10^24 × 0.6) to the tenth
    ("It takes 6 × 70B × 70 B x 20 = 0.6 million exaflops.", 588 * 10**21),
    ("For the 7B model: 7 B × 2 bytes = 14 GB", 14 * 10**9),
])
def test_a_spaced_magnitude_before_an_operator_is_the_one_its_line_glues(text, computed):
    (e,) = find_equations(text)
    assert (e.computed, e.verdict, e.unknowns) == (computed, "ok", ())


def test_a_spaced_letter_before_an_operator_stays_a_symbol_on_a_line_without_the_magnitude():
    (e,) = find_equations("7 B × 2 bytes = 14 GB")
    assert e.unknowns == ("B",) and e.verdict == "unknown"
    long_ago = "We have 70B params.\n" + "7 B × 2 = 14 GB"         # another line
    assert find_equations(long_ago)[0].unknowns == ("B",)


def test_a_spaced_letter_the_text_has_as_a_symbol_is_never_a_magnitude():
    # "B = 8" binds B: 2 × 8 × 4 = 64, though "7B" glues B to a number on the line
    (e,) = find_equations("For the 7B model, with batch B = 8: cache = 2 B × 4 = 64")
    assert (e.expression, e.computed, e.verdict) == ("2 B × 4", 2 * 8 * 4, "ok")


def test_a_chain_of_arrows_between_quantities_in_units_of_one_kind_converts_them():
    # 4 × 10^7 s are 11,111.1 h (1.11 × 10^4 to the hundred); 1.11 × 10^4 h are 462.5 d,
    # 463 to the day (the half rounds up), not 470
    text = "≈ 40 million seconds → 1.11 × 10⁴ h → {} d"
    first, second = find_equations(text.format(463))
    assert (first.computed, first.stated, first.unit, first.verdict) == (
        40 * 10**6, 11_100, 3600, "ok")
    assert (second.computed, second.stated, second.unit, second.verdict) == (
        11_100, 463, 86_400, "ok")
    assert second.difference == 463 * 86_400 - 11_100 * 3600
    assert find_equations(text.format(470))[1].verdict == "wrong"
    # 7,200 s are 2 h; written with "->" or LaTeX's \to as well; 2.1 h is a near miss (5% off)
    assert [e.verdict for e in find_equations("7200 s -> 2 h and 7200 s -> 2.1 h")] == [
        "ok", "wrong"]
    (e,) = find_equations(r"$7200\,\text{s} \to 2\,\text{hours}$")
    assert (e.verdict, e.unit_name) == ("ok", "hours")
    (e,) = find_equations("1 GiB → 1.07 GB")               # 2^30 = 1.0737e9: 1.07 GB
    assert (e.verdict, e.unit, e.difference) == ("ok", 10**9, 107 * 10**7 - 2**30)


@pytest.mark.parametrize("text", [
    "2 GPUs → 4 days",          # no unit of one kind on both sides
    "14 GB → 28 GB",            # one unit: a change, not a conversion
    "d → 4 d → d",              # dimensions mapped: d is a symbol, not days
])
def test_an_arrow_that_converts_no_unit_claims_nothing(text):
    assert find_equations(text) == []


@pytest.mark.parametrize("text", [
    "The cache was 14 GB → 28 GiB after the upgrade.",  # 14 GB are 13.04 GiB: 28 is no reading
    "Storage went 80 GB → 1 TB.",                        # 80 GB are 0.08 TB
    "The schedule moved 30 days → 2 weeks.",             # 30 days are 4.29 weeks
    "Training time fell 2 hours -> 30 minutes.",         # 2 hours are 120 minutes
])
def test_an_arrow_far_from_every_reading_says_what_a_quantity_becomes_and_claims_nothing(text):
    assert find_equations(text) == []


def test_an_arrow_chain_that_converts_is_still_checked():
    # 5.6e10 s / 3600 = 15,555,556 h: 1.6e7 to two digits; 1.6e7 h / 24 = 666,667 d: 6.7e5
    eqs = find_equations("That is 5.6e10 s → 1.6e7 h → 6.7e5 d.")
    assert [(e.computed, e.stated, e.unit, e.verdict) for e in eqs] == [
        (56 * 10**9, 16 * 10**6, 3600, "ok"), (16 * 10**6, 67 * 10**4, 86_400, "ok")]


def test_a_rounded_restatement_in_a_chain_carries_the_exact_value_before_it():
    # 2·80·8·128·2 = 327,680 bytes, restated as 0.33 MB (0.32768): the product goes on from
    # 327,680, and 327,680 × 131,072 = 42,949,672,960 bytes is 42.95 GB
    text = "2 x 80 x 8 x 128 x 2 = 327,680 = 0.33MB / token x 131072 = {}GB"
    product, restated, total = find_equations(text.format("42.95"))
    assert (product.computed, product.verdict) == (327_680, "ok")
    assert (restated.computed, restated.stated, restated.unit, restated.verdict) == (
        327_680, Fraction(33, 100), 10**6, "ok")
    assert total.carried == ("0.33", Fraction(327_680, 10**6)) and total.verdict == "ok"
    assert total.computed == Fraction(327_680 * 131_072, 10**6)        # in MB, exact
    # the rounded chain worked as written holds too: 0.33 × 131,072 = 43,253.76 MB, 43.25 GB
    rounded = find_equations(text.format("43.25"))[2]
    assert (rounded.verdict, rounded.carried) == ("ok", None)
    assert rounded.computed == Fraction(33 * 131_072, 100)
    # neither: 42.95 GB from the exact value, 43.25 GB from 0.33 (45.35 in MiB); 50 GB is wrong
    assert find_equations(text.format("50"))[2].verdict == "wrong"
    # a restatement that does not hold carries nothing: 0.5 MB is not 327,680 bytes
    wrong = find_equations("327,680 = 0.5MB / token x 2 = 1 MB")
    assert [e.verdict for e in wrong] == ["wrong", "ok"] and wrong[1].carried is None


def test_a_line_that_starts_with_approx_goes_on_with_the_one_before():
    # 6 × 5.25 × 10^22 = 3.15 × 10^23 (the "≈" line continues the chain)
    first, second = find_equations("6 × (1.75 × 10¹¹) × (3 × 10¹¹)\n= 6 × 5.25 × 10²²\n"
                                   "≈ 3.15 × 10²³ FLOPs.")
    assert (second.line, second.computed, second.verdict) == (2, 315 * 10**21, "ok")
    assert find_equations("2 x 3\n\\approx 6")[0].verdict == "ok"


def test_an_approx_line_after_a_number_in_prose_starts_afresh():
    # "a batch of 32" ends in prose, not inside an expression: no "32 ≈ 6 GB"
    assert find_equations("Each GPU holds a batch of 32\n≈ 6 GB of activations per GPU") == []
    # after an operator's operand or a relation the next line goes on: 4 × 8 = 32
    assert found("x = 4 × 8\n≈ 32") == [("4 × 8", 32, "ok")]
    # ... and after a name alone: C is 6 × 2 = 12
    assert [(b.name, b.value) for b in find_bindings("Cost: C\n≈ 6 × 2 = 12")] == [("C", 12)]


def test_a_whole_number_of_b_stated_equal_to_a_size_in_bytes_counts_bytes():
    # 2·16·512·2 = 32,768 bytes, written "32,768 B" and restated as 33 KB (32.768)
    chain = find_equations("x = 2 * 16 * 512 * 2 bytes\n= 32,768 B\n= 33 KB")
    assert [(e.computed, e.verdict) for e in chain] == [(32_768, "ok"), (32_768, "ok")]
    # a fraction of B stays billions (2 × 1.5 × 10^9 = 3 × 10^9), and a count of billions
    # stated equal to a size converts nothing ("1.5 B = 1500 MB" is no claim about bytes)
    (e,) = find_equations("2 × 1.5 B = 3e9")
    assert (e.computed, e.verdict) == (3 * 10**9, "ok")
    assert find_equations("1.5 B = 1500 MB") == []
    # nor does a glued model size: the 1B model takes 2 GB (2 bytes a parameter), not 1 byte
    assert find_equations("The 1B model: 1B = 2 GB") == []
    assert find_equations("7B = 14 GB") == []
