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
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path

from ..analysis import flop_report, shape_report
from ..config import Config, Conventions, FlopcalcError
from ..tables import JSON_SCHEMA_VERSION, Table, config_note, flop_table, shape_table
from .arithmetic import analyse, fenced_code_blocks
from .claims import (ClaimResult, ClaimsFile, claims_for_text, document_sha256,
                     evaluate_claims, fmt, json_value, load_claims, shape_text, similar_claims)

BRIEF_EXPRESSION = 100  # characters of an expression a terminal table shows


@dataclass
class AuditResult:
    """Everything ``flopcalc audit`` reports; ``ok`` decides the exit code (0 ok, 1 not).

    ``config`` and ``conventions`` are the claims file's (None without one: a text alone
    says nothing about the model it analyses)."""

    config: Config | None
    conventions: Conventions | None
    claims_file: ClaimsFile | None = None
    claims: list[ClaimResult] = field(default_factory=list)
    equations: list | None = None     # arithmetic.Equation, when a text was given
    identities: list = field(default_factory=list)  # arithmetic.Identity ("2·d·3d = 6d^2")
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. that no claims file was found
    # Why nothing could be checked (no claims file, and no equation with a verdict): what
    # was skipped. Then the audit proves nothing, and ``exit_code`` is 3.
    nothing_checked: str | None = None

    @property
    def wrong_claims(self) -> list[ClaimResult]:
        return [r for r in self.claims if r.verdict != "ok"]

    @property
    def wrong_equations(self) -> list:
        """The wrong equations and the wrong identities."""
        return [e for e in [*(self.equations or ()), *self.identities] if e.verdict == "wrong"]

    @property
    def unevaluable_equations(self) -> list:
        return [e for e in self.equations or () if e.verdict == "cannot evaluate"]

    @property
    def ok(self) -> bool:
        """Every claim holds and no equation of the text is wrong ('unknown' and 'cannot
        evaluate' are not wrong)."""
        return not self.wrong_claims and not self.wrong_equations

    @property
    def exit_code(self) -> int:
        """0 when everything holds, 1 when anything is wrong, 3 when nothing could be
        checked (so that a docs CI cannot pass on "0 of 0 wrong")."""
        if not self.ok:
            return 1
        return 3 if self.nothing_checked else 0

    def claim(self, claim_id: str) -> ClaimResult:
        for r in self.claims:
            if r.id == claim_id:
                return r
        raise KeyError(claim_id)


def run_audit(text: str | None, claims: str | Path | None, code: bool = False) -> AuditResult:
    """Audit a document: its claims file (a shipped name or a TOML path) and, if the
    document's text is given, every "expression = number" equation and every symbolic
    identity in it (in its fenced code blocks too when ``code``).

    Without a claims file only the arithmetic runs: there is no config, hence no corrected
    FLOP and shape tables (``audit_tables``).
    """
    if text is None and claims is None:
        raise FlopcalcError("nothing to audit: give a document's text, a claims file, or both")
    cf = load_claims(claims) if claims is not None else None
    if cf is not None:
        result = AuditResult(cf.document.config, cf.document.conventions, cf,
                             evaluate_claims(cf))
    else:
        result = AuditResult(None, None)
    if text is not None:
        analysis = analyse(text, code)
        result.equations, result.identities = analysis.equations, analysis.identities
        if analysis.identities_skipped:
            result.warnings.append(
                f"{analysis.identities_skipped} identities were not checked: expanding the "
                "text's products took all the work an audit allows")
        if cf is None:
            read = result.equations + result.identities
            result.nothing_checked = _unchecked(text, read, code)
            if result.nothing_checked:
                result.warnings.append(result.nothing_checked)
            elif (most := _mostly_unchecked(read)):
                result.warnings.append(most)
        if cf is not None:
            if cf.document.sha256 and document_sha256(text) != cf.document.sha256:
                result.warnings.append(f"the text is not the document of {cf.source} "
                                       "(its sha256 differs)")
            result.warnings += _transcription_warnings(text, result.claims)
    return result


def audit_text(text: str, claims: str | Path | None = None, name: str = "the text",
               candidates=None, code: bool = False) -> AuditResult:
    """What ``flopcalc audit FILE [--claims C]`` runs: without ``claims``, the shipped claims
    file made for the text (``claims_for_text``; ``candidates`` replaces the shipped files);
    when there is none, the arithmetic alone, with a note saying so (in ``notes``) that
    names a claims file whose document the text resembles (``similar_claims``)."""
    note = None
    if claims is None:
        claims = claims_for_text(text, candidates)
        if claims is None:
            note = unmatched_note(text, name, candidates)
    result = run_audit(text, claims, code)
    if note:
        result.notes.append(note)
    return result


def unmatched_note(text: str, name: str, candidates=None) -> str:
    """The note for a text that no claims file was made for."""
    near = similar_claims(text, candidates)
    where = ("shipped claims file" if candidates is None else "claims file")
    if near:
        return (f"no {where} matches {name}; only its arithmetic was checked (it has the "
                f"title of the document of {near[0]}, but not its text: pass --claims "
                f"{near[0]} to check its claims)")
    return (f"no {where} matches {name}; only its arithmetic was checked (pass "
            "--claims NAME|PATH to check its claims)")


def _skipped(equations, code_blocks: int) -> list[str]:
    """What the arithmetic check read but could not check, in words."""
    unknown = [e for e in equations if e.verdict == "unknown"]
    names = list(dict.fromkeys(n for e in unknown for n in e.unknowns))
    out = []
    if unknown:
        out.append(f"{len(unknown)} equation{'s' * (len(unknown) != 1)} with symbols that have "
                   f"no value ({', '.join(names[:5])}{', …' if len(names) > 5 else ''})")
    uneval = sum(e.verdict == "cannot evaluate" for e in equations)
    if uneval:
        out.append(f"{uneval} that cannot be evaluated")
    if code_blocks:
        out.append(f"{code_blocks} fenced code block{'s' * (code_blocks != 1)} (not prose; --code-blocks reads them)")
    return out


def _unchecked(text: str, equations, code: bool = False) -> str | None:
    """The warning for a text of which nothing could be checked, or None."""
    if any(e.verdict in ("ok", "wrong") for e in equations):
        return None
    skipped = _skipped(equations, 0 if code else len(fenced_code_blocks(text)))
    found = "no equation was checked" if equations else "no “expression = number” was found"
    return (f"nothing could be checked: {found}"
            + (f"; skipped: {'; '.join(skipped)}" if skipped else "")
            + " (exit status 3)")


def _mostly_unchecked(equations) -> str | None:
    """The warning for a text most of whose equations could not be checked, or None."""
    checked = sum(e.verdict in ("ok", "wrong") for e in equations)
    if 2 * checked >= len(equations):
        return None
    return (f"only {checked} of {len(equations)} equations could be checked; skipped: "
            + "; ".join(_skipped(equations, 0)))


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


def decimal_text(x: Fraction, places: int = 4) -> str:
    """A value as a decimal: exact when it terminates within ``places`` decimals ("7.25"),
    else rounded and marked ("≈ 7.9239"); never a raw fraction."""
    for k in range(places + 1):
        if (x * 10**k).denominator == 1:
            whole, frac = divmod(abs(int(x * 10**k)), 10**k)
            return ("-" if x < 0 else "") + f"{whole:,}" + (f".{frac:0{k}d}" if k else "")
    scaled = round(abs(x) * 10**places)
    whole, frac = divmod(scaled, 10**places)
    return "≈ " + ("-" if x < 0 else "") + f"{whole:,}.{frac:0{places}d}"


def _number_cell(value):
    """An equation's number: a whole number stays an int (render adds separators)."""
    if isinstance(value, Fraction) and value.denominator != 1:
        return decimal_text(value)
    return _cell(value)


def unknown_text(e) -> str:
    """What an equation with unknowns needs, in words: "holds when L = 128", "holds for any
    L", "2 unknowns: d and L", "no single value of L makes it hold"."""
    names = list(e.unknowns)
    if len(names) > 1:
        return f"{len(names)} unknowns: {', '.join(names[:-1])} and {names[-1]}"
    if e.solution is not None:
        value = _number_cell(e.solution)
        return f"holds when {names[0]} = {value:,}" if isinstance(value, int) else \
            f"holds when {names[0]} = {value}"
    if e.holds_for_any:
        return f"holds for any {names[0]}"
    return f"no single value of {names[0]} makes it hold"


def identity_text(x) -> str:
    """What an identity's verdict rests on, in words: "left − right = -d^2", "holds only
    where 4·b·h·s^2 is negligible", "holds only when … = 0 (d_ff on one side only)"."""
    if x.verdict == "ok":
        return ("an identity (with s/6h read as s/(6h))" if x.tight else "an identity")
    if x.verdict == "wrong":
        return f"not an identity: left − right = {x.difference}"
    if x.approximate:
        return f"holds only where {x.difference} is negligible"
    if x.applied:
        return (f"not checked: {', '.join(x.applied)} is written as a function (big-O or a "
                f"recurrence?); as products the sides differ by {x.difference}")
    names = ", ".join(x.unknowns)
    return (f"holds only when {x.difference} = 0 ({names} on one side only)"
            if x.difference else f"{names} on one side only")


def _equation_verdict(e) -> str:
    """The verdict, with the precision a rounded or approximate figure was compared at."""
    if e.verdict not in ("ok", "wrong"):
        return e.verdict
    how = [f"to {decimal_text(e.precision)}"] if e.precision is not None else []
    if e.unit != 1:  # and the exact value in the stated unit: "value ≈ 20.0201 days"
        exact = (e.stated * e.unit - e.difference) / e.unit
        how += [f"1 {e.unit_name} = {e.unit:,}", f"value {decimal_text(exact)} {e.unit_name}"]
    return f"{e.verdict} ({'; '.join(how)})" if how else e.verdict


def _quantity_cell(r: ClaimResult) -> str:
    c = r.claim
    if c.kind != "flops":
        return c.quantity
    blocks = "1 block" if c.blocks == 1 else f"{c.blocks} blocks"
    return f"{c.quantity} · {c.scope} · {blocks}"


def _expression_cell(e, brief: bool) -> str:
    text = " ".join(e.expression.split())
    if brief and len(text) > BRIEF_EXPRESSION:
        text = text[:BRIEF_EXPRESSION - 1].rstrip() + "…"
    return text


def audit_tables(result: AuditResult, brief: bool = False) -> list[Table]:
    """The claims table, the arithmetic table (when a text was given), then flopcalc's own
    FLOP and shape tables for the document's config and conventions (with a claims file).

    ``brief`` makes the terminal's version: each claim's reason is its one-sentence
    ``headline`` (the full reasons are in the Markdown and JSON reports), an expression is
    cut to ``BRIEF_EXPRESSION`` characters, an unknown's solution goes in the verdict.
    The wide columns are ``optional``, so a narrow terminal keeps id, line, verdict and
    reason.
    """
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
                   "dimension. A term of a sum is checked in the sum's scope."]
                  + (["reason: the main problem and the right value; every reason is in "
                      "--format markdown or json."] if brief else []),
            columns=["id", "line", "quantity", "as written", "stated", "recomputed",
                     "flopcalc", "verdict", "reason"],
            align="lrllrrrll",
            optional=("quantity", "as written", "stated", "recomputed", "flopcalc"), name="claims")
        for r in result.claims:
            t.rows.append([r.id, r.claim.line if r.claim.line is not None else "",
                           _quantity_cell(r), r.as_written, _cell(r.stated),
                           _cell(r.written), _cell(r.expected), r.verdict,
                           r.headline if brief else r.reason])
        n, k = len(result.claims), len(result.wrong_claims)
        t.totals.append([f"{k} of {n} wrong", "", "", "", "", "", "", "",
                         "all claims hold" if not k else "the document's claims do not all hold"])
        tables.append(t)
    if result.equations is not None:
        t = Table(
            title="Arithmetic of the text",
            notes=[f"Note: {n}" for n in result.notes]
                  + ["Every “expression = number” in the text, evaluated exactly; difference = "
                     "stated − computed; unknown: the expression has a symbol with no value "
                     "(solution: the value that makes it hold); cannot evaluate: it has no "
                     "exact value (the verdict says why); identity: “expression = expression” "
                     "in unknowns, compared as functions of them."]
                  + [f"Warning: {w}" for w in result.warnings],
            columns=["line", "expression", "stated", "computed", "verdict", "difference"],
            align="rlrrlr", optional=("difference",) if brief else (), name="arithmetic")
        for e in result.equations:
            diff, verdict = _number_cell(e.difference), _equation_verdict(e)
            if e.verdict == "unknown":
                diff = unknown_text(e)
                if brief:
                    verdict = f"unknown: {diff}"
            elif e.verdict == "cannot evaluate":
                verdict = f"cannot evaluate: {e.reason}"
            t.rows.append([e.line, _expression_cell(e, brief), _number_cell(e.stated),
                           _number_cell(e.computed), verdict, diff])
        for x in result.identities:  # "left = right" is the expression; no number is stated
            words = identity_text(x)
            whole = replace(x, expression=f"{x.expression} = {x.stated_text}")
            t.rows.append([x.line, _expression_cell(whole, brief), "", "",
                           f"{x.verdict}: {words}" if brief else f"{x.verdict} (identity)",
                           words])
        t.rows.sort(key=lambda row: row[0])  # identities in line order among the equations
        k, n = len(result.wrong_equations), len(result.equations) + len(result.identities)
        u = len(result.unevaluable_equations)
        t.totals.append(["", f"{k} of {n} wrong" + (f", {u} cannot be evaluated" if u else ""),
                         "", "", "", ""])
        tables.append(t)
    if result.claims_file is not None:  # the corrected tables need the document's config
        tables.append(flop_table(flop_report(cfg, conv)))
        tables.append(shape_table(shape_report(cfg)))
    return tables


# ----------------------------------------------------------------------------- JSON

def audit_json(result: AuditResult) -> dict:
    """The audit as a JSON document (schema ``flopcalc.audit``, docs/audit.md)."""
    cfg, conv = result.config, result.conventions
    doc = result.claims_file.document if result.claims_file else None
    counts = None
    if cfg is not None:
        report = flop_report(cfg, conv)
        full = flop_report(cfg, Conventions(flops_per_mac=conv.flops_per_mac,
                                            attention=conv.attention,
                                            elementwise=conv.elementwise))
        counts = {"block": report.block_total, "blocks": report.blocks_total,
                  "total": report.total, "forward_with_embeddings_and_lm_head": full.total,
                  "lm_head": full.section_total("head")}
    return {
        "schema": "flopcalc.audit", "schema_version": JSON_SCHEMA_VERSION,
        "ok": result.ok,
        "document": ({"title": doc.title, "author": doc.author,
                      "claims": result.claims_file.source} if doc else None),
        "config": cfg.as_dict() if cfg is not None else None,
        "conventions": ({**conv.as_dict(), "description": conv.describe()}
                        if conv is not None else None),
        "summary": {
            "claims": len(result.claims), "claims_wrong": len(result.wrong_claims),
            "equations": None if result.equations is None else len(result.equations),
            "equations_wrong": (None if result.equations is None else
                                sum(e.verdict == "wrong" for e in result.equations)),
            "identities": None if result.equations is None else len(result.identities),
            "identities_wrong": (None if result.equations is None else
                                 sum(x.verdict == "wrong" for x in result.identities)),
            "equations_unevaluable": (None if result.equations is None
                                      else len(result.unevaluable_equations)),
            "nothing_checked": result.nothing_checked,
        },
        "claims": [r.as_dict() for r in result.claims],
        "arithmetic": None if result.equations is None else [
            {"line": e.line, "expression": e.expression, "stated": json_value(e.stated),
             "computed": json_value(e.computed), "unknowns": list(e.unknowns),
             "solution": json_value(e.solution), "verdict": e.verdict,
             "difference": json_value(e.difference), "reason": e.reason or None,
             "reason_code": e.reason_code or None,
             "precision": json_value(e.precision), "approximate": e.approximate,
             "scale": e.scale, "unit": e.unit, "unit_name": e.unit_name or None,
             "holds_for_any": e.holds_for_any, "defined_later": list(e.defined_later)}
            for e in result.equations],
        "identities": None if result.equations is None else [
            {"line": x.line, "left": x.expression, "right": x.stated_text,
             "verdict": x.verdict, "unknowns": list(x.unknowns),
             "difference": x.difference or None, "approximate": x.approximate,
             "divisor_read_tight": x.tight, "applied": list(x.applied)}
            for x in result.identities],
        "warnings": list(result.warnings),
        "notes": list(result.notes),
        "flopcalc": counts,
    }
