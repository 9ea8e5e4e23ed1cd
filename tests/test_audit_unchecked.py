"""A text of which nothing could be checked says so, and exits 3 (issue 11, item 6); the
arithmetic table prints exact values as decimals, never as raw fractions (item 2)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from cli_helpers import invoke
from flopcalc.audit.report import audit_tables, audit_text, decimal_text, run_audit

PROSE = "GPT-2 small has 12 layers and 12 heads; its cost is dominated by the FFN.\n"


def test_a_text_with_no_equation_exits_3_with_a_warning(tmp_path):
    path = tmp_path / "prose.md"
    path.write_text(PROSE, encoding="utf-8")
    result = invoke("audit", path)
    assert result.exit_code == 3
    warning = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warning) == 1 and "nothing could be checked" in warning[0]
    audit = audit_text(PROSE)
    assert audit.ok and audit.nothing_checked and audit.exit_code == 3
    assert audit.nothing_checked in audit.warnings


def test_the_warning_names_what_was_skipped():
    text = "The cost is $6 N D = 3e23$ and $2 L d^2 = 1,024$.\n\n```\n2 + 2 = 5\n```\n"
    audit = audit_text(text)
    assert [e.verdict for e in audit.equations] == ["unknown", "unknown"]
    assert audit.exit_code == 3
    for name in ("N", "D", "L", "d", "2 equations", "1 fenced code block"):
        assert name in audit.nothing_checked


def test_one_checked_equation_is_enough_and_a_wrong_one_exits_1():
    assert audit_text(PROSE + "2 x 3 = 6\n").exit_code == 0
    assert audit_text(PROSE + "2 x 3 = 7\n").exit_code == 1
    mostly = audit_text("$a b = 6$, $c d = 7$, $e f = 8$ and 2 x 3 = 6\n")
    assert mostly.exit_code == 0 and mostly.nothing_checked is None
    assert any("only 1 of 4 equations could be checked" in w for w in mostly.warnings)


def test_a_mostly_unchecked_text_warns_on_stderr_too_for_a_ci_log(tmp_path):
    text = "$a b = 6$, $c d = 7$, $e f = 8$ and 2 x 3 = 6\n"
    path = tmp_path / "mostly.md"
    path.write_text(text, encoding="utf-8")
    result = invoke("audit", path, "-o", tmp_path / "report.md")
    # four equations, of which only 2 x 3 = 6 has values; the other three leave a to f unknown
    # (the first five named, then "…")
    most = ("only 1 of 4 equations could be checked; skipped: 3 equations with symbols that "
            "have no value (a, b, c, d, e, …)")
    assert result.exit_code == 0 and f"flopcalc: warning: {most}" in result.stderr.splitlines()
    assert audit_text(text).warnings == [most]


def test_a_claims_file_is_something_checked():
    assert run_audit(PROSE, "gpt2-document").nothing_checked is None


def test_exact_values_print_as_decimals():
    assert decimal_text(Fraction(33235275, 4194304)) == "≈ 7.9239"
    assert decimal_text(Fraction(29, 4)) == "7.25"
    assert decimal_text(Fraction(-1, 3)) == "≈ -0.3333"
    assert decimal_text(Fraction(10**12, 3)) == "≈ 333,333,333,333.3333"
    # a value too small for four decimals keeps four digits: 21 / 1.8e6 = 0.0000116666...
    assert decimal_text(Fraction(21, 1_800_000)) == "≈ 0.00001167"
    assert decimal_text(Fraction(1, 20_000)) == "0.00005"               # exact, terminating
    audit = audit_text("33235275 / 4194304 = 7.92\n")
    (row,) = audit_tables(audit)[0].rows
    assert row[3] == "≈ 7.9239" and audit.equations[0].verdict == "ok"
    assert "/" not in str(row[5])                       # the difference too


def test_the_json_carries_how_each_equation_was_compared():
    import json

    from flopcalc.audit.report import audit_json

    doc = json.loads(json.dumps(audit_json(audit_text(
        "2 × 1 × 2048 × 32 × 32 × 128 × 2 = 1.07 GB\n$2 L = 256$ where $L = 128$\n"))))
    size, later = doc["arithmetic"]
    assert (size["verdict"], size["precision"], size["unit"], size["unit_name"]) == (
        "ok", "1/100", 10**9, "GB")
    assert later["verdict"] == "ok" and later["defined_later"] == ["L"]
    assert doc["summary"]["nothing_checked"] is None
    assert audit_json(audit_text(PROSE))["summary"]["nothing_checked"].startswith("nothing")


@pytest.mark.parametrize("text, code", [
    ("$2 / 0 = 1$", "division-by-zero"),
    ("12 × 1 000 = 12,000", "grouped-digits"),
    ("12 × 1,000 = 12 000", "stated-grouped-digits"),
    ("$2^{1/100} = 1$", "fractional-exponent"),
    ("$3^{99999} = 1$", "exponent-too-large"),
    ("$" + " + ".join(["1"] * 300) + " = 300$", "too-long"),
])
def test_why_an_equation_cannot_be_evaluated_is_a_code(text, code):
    from flopcalc.audit.arithmetic import find_equations
    from flopcalc.audit.report import REASONS

    (e,) = find_equations(text)
    assert e.verdict == "cannot evaluate" and e.reason_code == code and code in REASONS
    assert e.reason                                  # its English, written from the code
