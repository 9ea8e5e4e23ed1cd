"""The committed audit report of the seed document, docs/audit-gpt2-document.md, stays current.

It was written by `flopcalc audit <seed document> --format markdown`. The document itself is
not shipped, so: every section but "Arithmetic of the text" must equal what
`flopcalc audit --claims gpt2-document --format markdown` prints now, and every row of the
arithmetic section must still evaluate to what it says.
"""

from fractions import Fraction
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from cli_helpers import invoke
from flopcalc.audit.arithmetic import ExpressionError, evaluate

REPORT = Path(__file__).resolve().parent.parent / "docs" / "audit-gpt2-document.md"
ARITHMETIC = "### Arithmetic of the text"


def sections(text: str) -> tuple[str, str]:
    """(the report without its arithmetic section, that section)."""
    start = text.index(ARITHMETIC)
    end = text.index("\n### ", start) + 1
    return text[:start] + text[end:], text[start:end]


def test_the_committed_report_is_what_the_claims_audit_prints_now():
    result = invoke("audit", "--claims", "gpt2-document", "--format", "markdown")
    assert result.exit_code == 1  # the document has mistakes
    claims_part, _ = sections(REPORT.read_text(encoding="utf-8"))
    assert claims_part == result.stdout, (
        "docs/audit-gpt2-document.md is stale: regenerate it with "
        "`flopcalc audit <seed document> --format markdown -o docs/audit-gpt2-document.md`")


def arithmetic_rows():
    _, section = sections(REPORT.read_text(encoding="utf-8"))
    for line in section.splitlines():
        cells = [c.strip() for c in line.replace("\\|", "\0").strip("|").split("|")]
        if len(cells) == 6 and cells[0].isdigit():
            yield [c.replace("\0", "|").replace("\\\\", "\\") for c in cells]


def number(cell: str) -> Fraction:
    return Fraction(cell.replace(",", ""))


@pytest.mark.parametrize("row", list(arithmetic_rows()), ids=lambda r: f"line{r[0]}")
def test_every_arithmetic_row_of_the_report_still_holds(row):
    _, expression, stated, computed, verdict, difference = row
    try:
        value = evaluate(expression)
    except ExpressionError:  # a symbol bound elsewhere in the document (or the unknown L)
        assert verdict in ("ok", "unknown")
        return
    assert value == number(computed)
    assert (verdict == "ok") == (value == number(stated))
    assert number(difference) == number(stated) - value


def test_the_report_finds_the_documents_arithmetic_slips():
    rows = {int(r[0]): r for r in arithmetic_rows()}
    assert rows[98][3] == f"{3 * 128 * 768 * 768 * 2:,}" and rows[98][4] == "wrong"
    assert rows[101][3] == f"{128 * 768 * 3072 * 2 * 2 + 128:,}" and rows[101][4] == "wrong"
    total = 1_207_959_552 + 1_605_632 + 1_179_648 + 301_989_888
    assert rows[102][3] == f"{total:,}" and rows[102][4] == "wrong"


def test_the_report_renders_as_tables():
    tokens = MarkdownIt("commonmark").enable("table").parse(REPORT.read_text(encoding="utf-8"))
    assert sum(t.type == "table_open" for t in tokens) == 4  # claims, arithmetic, FLOPs, shapes
