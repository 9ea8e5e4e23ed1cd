"""``run_audit``: a document's claims (and its arithmetic) checked, as tables and as JSON.

>>> result = run_audit(None, "gpt2-document")
>>> result.ok
False
>>> [r.id for r in result.claims if r.verdict == "wrong"][:3]
['embedding', 'embedding.heads', 'w_q']

The JSON document (``audit_json``) is stable and documented in docs/audit.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from ..analysis import flop_report, shape_report
from ..config import Config, Conventions, FlopcalcError
from ..tables import JSON_SCHEMA_VERSION, Table, config_note, flop_table, shape_table
from .arithmetic import find_equations
from .claims import (ClaimResult, ClaimsFile, document_sha256, evaluate_claims, fmt,
                     json_value, load_claims, shape_text)



@dataclass
class AuditResult:
    """Everything ``flopcalc audit`` reports; ``ok`` decides the exit code (0 ok, 1 not)."""

    config: Config
    conventions: Conventions
    claims_file: ClaimsFile | None = None
    claims: list[ClaimResult] = field(default_factory=list)
    equations: list | None = None     # arithmetic.Equation, when a text was given
    warnings: list[str] = field(default_factory=list)

    @property
    def wrong_claims(self) -> list[ClaimResult]:
        return [r for r in self.claims if r.verdict != "ok"]

    @property
    def wrong_equations(self) -> list:
        return [e for e in self.equations or () if e.verdict == "wrong"]

    @property
    def ok(self) -> bool:
        """Every claim holds and no equation of the text is wrong ('unknown' is not wrong)."""
        return not self.wrong_claims and not self.wrong_equations

    def claim(self, claim_id: str) -> ClaimResult:
        for r in self.claims:
            if r.id == claim_id:
                return r
        raise KeyError(claim_id)


def run_audit(text: str | None, claims: str | Path | None) -> AuditResult:
    """Audit a document: its claims file (a shipped name or a TOML path) and, if the
    document's text is given, every "expression = number" equation in it.

    Without a claims file only the arithmetic runs, and the corrected tables use
    flopcalc's default config (GPT-2 small, 128 tokens) and conventions.
    """
    if text is None and claims is None:
        raise FlopcalcError("nothing to audit: give a document's text, a claims file, or both")
    cf = load_claims(claims) if claims is not None else None
    if cf is not None:
        result = AuditResult(cf.document.config, cf.document.conventions, cf,
                             evaluate_claims(cf))
    else:
        result = AuditResult(Config(), Conventions())
    if text is not None:
        result.equations = find_equations(text)
        if cf is not None:
            if cf.document.sha256 and document_sha256(text) != cf.document.sha256:
                result.warnings.append(f"the text is not the document of {cf.source} "
                                       "(its sha256 differs)")
            result.warnings += _transcription_warnings(text, result.claims)
    return result


def _figures(line: str) -> set[int]:
    """The integers written on a line (thousands separators allowed)."""
    return {int(m.group().replace(",", ""))
            for m in re.finditer(r"\d{1,3}(?:,\d{3})+(?!\d)|\d+", line)}


def _transcription_warnings(text: str, results: list[ClaimResult]) -> list[str]:
    """Claims whose stated figures are not on the line the claims file gives for them."""
    lines = text.splitlines()
    out = []
    for r in results:
        c = r.claim
        if c.line is None or r.term_of is not None:
            continue
        if c.line > len(lines):
            out.append(f"claim {c.id}: line {c.line} is past the end of the text "
                       f"({len(lines)} lines)")
            continue
        wanted = set()
        if isinstance(r.stated, tuple):
            wanted = {d for d in r.stated if isinstance(d, int)}
        elif (isinstance(r.stated, Fraction) and r.stated.denominator == 1
              and c.kind != "convention"):  # a convention's value may be implied, not written
            wanted = {int(r.stated)}
        if c.expression:
            wanted |= _figures(c.expression)
        missing = wanted - _figures(lines[c.line - 1])
        if missing:
            out.append(f"claim {c.id}: line {c.line} does not show "
                       + ", ".join(fmt(m) for m in sorted(missing)))
    return out


# ----------------------------------------------------------------------------- tables

def _cell(value):
    """Exact ints stay ints (render adds separators); shapes and fractions become text."""
    if value is None:
        return ""
    if isinstance(value, Fraction):
        return value.numerator if value.denominator == 1 else fmt(value)
    if isinstance(value, tuple):
        return shape_text(value)
    return value


def _quantity_cell(r: ClaimResult) -> str:
    c = r.claim
    if c.kind != "flops":
        return c.quantity
    blocks = "1 block" if c.blocks == 1 else f"{c.blocks} blocks"
    return f"{c.quantity} · {c.scope} · {blocks}"


def audit_tables(result: AuditResult) -> list[Table]:
    """The claims table, the arithmetic table (when a text was given), then flopcalc's own
    FLOP and shape tables for the document's config and conventions."""
    tables = []
    cfg, conv = result.config, result.conventions
    if result.claims_file is not None:
        doc = result.claims_file.document
        title = "Claims audit" + (f": {doc.title}" if doc.title else "")
        t = Table(
            title=title,
            notes=[config_note(cfg), f"Conventions of the document: {conv.describe()}",
                   "as written: the claim's expression, evaluated exactly (recomputed); "
                   "flopcalc: flopcalc's count of the quantity in the claim's scope "
                   "(sequence = one forward pass over seq_len tokens; token = one token "
                   "decoded at position seq_len with a KV cache) and blocks; B is the batch "
                   "dimension. A term of a sum is checked in the sum's scope."],
            columns=["id", "line", "quantity", "as written", "stated", "recomputed",
                     "flopcalc", "verdict", "reason"],
            align="lrllrrrll", optional=("as written", "recomputed"))
        for r in result.claims:
            t.rows.append([r.id, r.claim.line if r.claim.line is not None else "",
                           _quantity_cell(r), r.as_written, _cell(r.stated),
                           _cell(r.written), _cell(r.expected), r.verdict, r.reason])
        n, k = len(result.claims), len(result.wrong_claims)
        t.totals.append(["", "", "", "", "", "", "", f"{k} of {n} wrong",
                         "all claims hold" if not k else "the document's claims do not all hold"])
        tables.append(t)
    if result.equations is not None:
        t = Table(
            title="Arithmetic of the text",
            notes=["Every “expression = number” in the text, evaluated exactly; unknown: "
                   "the expression has a symbol with no value (solution: the value that "
                   "makes it hold)."] + [f"Warning: {w}" for w in result.warnings],
            columns=["line", "expression", "stated", "computed", "verdict", "difference"],
            align="rlrrlr")
        for e in result.equations:
            diff = _cell(e.difference)
            if e.verdict == "unknown":
                diff = (", ".join(e.unknowns) + " = " + fmt(e.solution)
                        if e.solution is not None else "no solution")
            t.rows.append([e.line, " ".join(e.expression.split()), _cell(e.stated),
                           _cell(e.computed), e.verdict, diff])
        k = len(result.wrong_equations)
        t.totals.append(["", f"{k} of {len(result.equations)} wrong", "", "", "", ""])
        tables.append(t)
    tables.append(flop_table(flop_report(cfg, conv)))
    tables.append(shape_table(shape_report(cfg)))
    return tables


# ----------------------------------------------------------------------------- JSON

def audit_json(result: AuditResult) -> dict:
    """The audit as a JSON document (schema ``flopcalc.audit``, docs/audit.md)."""
    cfg, conv = result.config, result.conventions
    report = flop_report(cfg, conv)
    full = flop_report(cfg, Conventions(flops_per_mac=conv.flops_per_mac,
                                        attention=conv.attention,
                                        elementwise=conv.elementwise))
    doc = result.claims_file.document if result.claims_file else None
    return {
        "schema": "flopcalc.audit", "schema_version": JSON_SCHEMA_VERSION,
        "ok": result.ok,
        "document": ({"title": doc.title, "author": doc.author,
                      "claims": result.claims_file.source} if doc else None),
        "config": cfg.as_dict(),
        "conventions": {**conv.as_dict(), "description": conv.describe()},
        "summary": {
            "claims": len(result.claims), "claims_wrong": len(result.wrong_claims),
            "equations": None if result.equations is None else len(result.equations),
            "equations_wrong": None if result.equations is None else len(result.wrong_equations),
        },
        "claims": [r.as_dict() for r in result.claims],
        "arithmetic": None if result.equations is None else [
            {"line": e.line, "expression": e.expression, "stated": json_value(e.stated),
             "computed": json_value(e.computed), "unknowns": list(e.unknowns),
             "solution": json_value(e.solution), "verdict": e.verdict,
             "difference": json_value(e.difference)}
            for e in result.equations],
        "warnings": list(result.warnings),
        "flopcalc": {"block": report.block_total, "blocks": report.blocks_total,
                     "total": report.total, "forward_with_embeddings_and_lm_head": full.total,
                     "lm_head": full.section_total("head")},
    }
