"""The committed audit report of the seed document, docs/audit-gpt2-document.md, stays current.

It was written by `flopcalc audit <seed document> --format markdown`. The document itself is
not shipped, so: every section but "Arithmetic of the text" must equal what
`flopcalc audit --claims gpt2-document --format markdown` prints now, and every row of the
arithmetic section must still evaluate to what it says.
"""

import json
from fractions import Fraction
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from cli_helpers import invoke
from flopcalc.audit.arithmetic import ExpressionError, evaluate
from flopcalc.audit.report import run_audit

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
    except ExpressionError:  # a symbol bound elsewhere in the document (or the unknown L),
        assert verdict in ("ok", "unknown") or verdict.startswith("cannot evaluate: ")
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


# ---------------------------------------------------------------------------------------
# The terminal at 80 columns
# ---------------------------------------------------------------------------------------

NARROW = {"COLUMNS": "80", "TERMINAL_WIDTH": "80"}


def test_an_80_column_terminal_shows_every_wrong_claim_and_its_reason():
    result = invoke("audit", "--claims", "gpt2-document", env=NARROW)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    header = next(line for line in lines if "┃ id" in line)
    assert "verdict" in header and "reason" in header
    for claim in run_audit(None, "gpt2-document").wrong_claims:
        row = next((line for line in lines if line.startswith(f"│ {claim.id} ")), None)
        assert row is not None, claim.id
        first_words = " ".join(claim.headline.split()[:2])
        assert first_words in row, (claim.id, first_words, row)


def test_an_80_column_terminal_shows_the_texts_arithmetic(tmp_path):
    path = tmp_path / "notes.md"
    path.write_text("QKV: 3 × 128 × 768 × 768 × 2 = 301,989,888\n", encoding="utf-8")
    result = invoke("audit", path, env=NARROW)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert any("301,989,888" in line and "452,984,832" in line and "wrong" in line
               for line in lines)


# ---------------------------------------------------------------------------------------
# A text that no shipped claims file was made for
# ---------------------------------------------------------------------------------------

def test_a_text_without_claims_is_said_to_get_only_its_arithmetic(tmp_path):
    path = tmp_path / "notes.md"
    path.write_text("# Notes\n\n2 × 3 = 6\n", encoding="utf-8")
    result = invoke("audit", path, "--format", "markdown")
    assert result.exit_code == 0
    note = (f"no shipped claims file matches {path}; only its arithmetic was checked "
            "(pass --claims NAME|PATH to check its claims)")
    assert result.stderr.splitlines() == [f"flopcalc: note: {note}"]
    assert "Note: " + note.replace("|", "\\|") in result.stdout    # Markdown escapes "|"
    # no corrected FLOP or shape tables: they need a config, which only a claims file gives
    assert result.stdout.count("### ") == 1 and "### Arithmetic of the text" in result.stdout
    doc = json.loads(invoke("audit", path, "--format", "json").stdout)
    assert doc["notes"] == [note]
    assert doc["config"] is None and doc["conventions"] is None and doc["flopcalc"] is None


def test_an_edited_copy_of_a_shipped_document_is_told_its_claims_name(tmp_path):
    path = tmp_path / "edited.md"          # made up here: the title of the seed document only
    path.write_text("Details of the GPT-2 Model\n\nQKV: 3 × 128 = 384\n", encoding="utf-8")
    result = invoke("audit", path)
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"flopcalc: note: no shipped claims file matches {path}")
    assert "--claims gpt2-document" in line
    quiet = invoke("audit", path, "--claims", "gpt2-document")     # asked for: no note
    assert "note:" not in quiet.stderr and "Claims audit" in quiet.stdout


# ---------------------------------------------------------------------------------------
# Equations that cannot be evaluated are reported, not dropped
# ---------------------------------------------------------------------------------------

def test_an_equation_that_cannot_be_evaluated_is_reported_with_its_reason(tmp_path):
    path = tmp_path / "notes.md"
    path.write_text("a: 3 / (2 - 2) = 5\nb: 12 × 1 000 = 12 000\nc: 2 × 3 = 6\n",
                    encoding="utf-8")
    result = invoke("audit", path, "--format", "markdown")
    assert result.exit_code == 0            # cannot evaluate is no error of the text
    assert "| 1 | 3 / (2 - 2) | 5 |   | cannot evaluate: division by zero |   |" in result.stdout
    assert "cannot evaluate: the stated “12 000”" in result.stdout
    assert "**0 of 3 wrong, 2 cannot be evaluated**" in result.stdout
    assert "difference = stated − computed" in result.stdout
    doc = json.loads(invoke("audit", path, "--format", "json").stdout)
    assert doc["summary"]["equations_unevaluable"] == 2
    first = doc["arithmetic"][0]
    assert first["verdict"] == "cannot evaluate" and first["reason_code"] == "division-by-zero"
    assert first["reason"] == "division by zero"                  # its English
    assert first["computed"] is None and first["difference"] is None
