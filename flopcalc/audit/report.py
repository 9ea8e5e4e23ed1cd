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
    # The figure check (no claims file): the model the figures were matched against (given,
    # or inferred from the text: ``guess``), and a finding per stated figure.
    figure_model: tuple | None = None           # (Architecture, Workload)
    guess: object = None                        # figures.ModelGuess, when inferred
    figures: list | None = None                 # figures.FigureFinding

    @property
    def wrong_figures(self) -> list:
        return [f for f in self.figures or () if f.verdict == "wrong"]

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
        return not self.wrong_claims and not self.wrong_equations and not self.wrong_figures

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


def run_audit(text: str | None, claims: str | Path | None, code: bool = False,
              model: tuple | None = None, guess=None, reading: tuple | None = None) -> AuditResult:
    """Audit a document: its claims file (a shipped name or a TOML path) and, if the
    document's text is given, every "expression = number" equation and every symbolic
    identity in it (in its fenced code blocks too when ``code``).

    Without a claims file the arithmetic runs and, with a ``model`` (an Architecture and a
    Workload, given or inferred: ``guess``), the figure check: every figure the text states
    matched against that model's quantities (``figures.check_figures``); ``reading`` is the
    text already read (``figures.read_text``). There is no
    document config, hence no corrected FLOP and shape tables (``audit_tables``).
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
        analysis = analyse(text, code) if reading is None else reading[0]
        result.equations, result.identities = analysis.equations, analysis.identities
        if analysis.identities_skipped:
            result.warnings.append(
                f"{analysis.identities_skipped} identities were not checked: expanding the "
                "text's products took all the work an audit allows")
        if cf is None and model is not None:
            from .figures import check_figures

            result.figure_model, result.guess = model, guess
            result.figures = check_figures(text, *model, code=code,
                                           numbers=None if reading is None else reading[1],
                                           inferred=guess is not None)
        if cf is None:
            read = result.equations + result.identities
            result.nothing_checked = _unchecked(text, read, code, result.figures)
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
               candidates=None, code: bool = False, model: tuple | None = None,
               infer: bool = True) -> AuditResult:
    """What ``flopcalc audit FILE [--claims C]`` runs: without ``claims``, the shipped claims
    file made for the text (``claims_for_text``; ``candidates`` replaces the shipped files);
    when there is none, the arithmetic, with a note saying so (in ``notes``) that names a
    claims file whose document the text resembles (``similar_claims``), and the figure
    check against ``model`` (an Architecture and a Workload) or, with ``infer``, against
    the model the text describes (``figures.infer_model``), when it describes one."""
    note, guess, reading = None, None, None
    if claims is None and model is None:
        claims = claims_for_text(text, candidates)
        if claims is None:
            note = unmatched_note(text, name, candidates)
    if claims is None and (model is not None or infer):
        from .figures import infer_model, read_text

        reading = read_text(text, code)
        if model is None:
            guess = infer_model(text, reading[0].bindings)
            model = (guess.architecture, guess.workload) if guess else None
    result = run_audit(text, claims, code, model, guess, reading)
    if note and result.figures is not None:
        note = note.replace("only its arithmetic was checked", "its arithmetic and its figures "
                            "were checked (the figures against the model shown with them)")
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


def _unchecked(text: str, equations, code: bool = False, figures=None) -> str | None:
    """The warning for a text of which nothing could be checked, or None. A figure that
    is only a dimension proves nothing (it may be what the model was inferred from)."""
    if any(e.verdict in ("ok", "wrong") for e in equations):
        return None
    if any(f.verdict in ("ok", "wrong", "suspect") and f.code != "dimension"
           for f in figures or ()):
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


# ----------------------------------------------------------------------------- figures
# The English of the figure check, written here from the findings' data (figures.py).

def _number_text(x) -> str:
    x = Fraction(x)
    return f"{x.numerator:,}" if x.denominator == 1 else decimal_text(x)


def quantity_text(q, seq_len: int) -> str:
    """A quantity of the model in words: "the 12-block count of the FFN (both matmuls), per
    sequence of 128 tokens", "the parameters of h.i.attn.c_attn.weight (768, 2304), one block"."""
    d = q.data
    if q.kind == "dim":
        return d["dimension"]
    if q.kind == "params":
        per = d.get("per")
        if q.key.startswith("tensor:"):
            shape = f" {shape_text(tuple(d['shape']))}" if "shape" in d else ""
            where = {"block": ", in each block", "model": ""}.get(per, f", over all "
                                                                      f"{d.get('blocks')} blocks")
            return f"the parameters of {d['tensor']}{shape}{where}"
        return {"params.block": "the parameters of one block",
                "params.blocks": f"the parameters of all {d.get('blocks')} blocks",
                "params.total": "the model's parameter count",
                "params.non_embedding": "the parameter count without the embeddings",
                "params.embedding": "the embeddings' parameters"}[q.key]
    if q.kind == "bytes":
        if q.key == "bytes.weights":
            return f"the weights in {d['dtype']} bytes ({d['parameters']:,} parameters)"
        per = d["per"]
        where = (f"{d['tokens']:,} tokens" if per.startswith("sequence") else "one token")
        batch = f" × batch {d['batch']}" if d["batch"] != 1 else ""
        layer = ", one layer" if per.endswith("one layer") else ""
        return f"the KV cache of {where}{batch} in {d['dtype']}{layer}"
    v = d["variant"]
    name = d["name"]
    if q.key == "block":
        name = ("one transformer block" if v.blocks == 1
                else f"all {v.blocks} transformer blocks")
    elif d["in_blocks"]:
        name = (f"one block's count of {name}" if v.blocks == 1
                else f"the {v.blocks}-block count of {name}")
    bits = ["per token (one decoded token at position "
            f"{seq_len} with a KV cache)" if v.scope == "token" else
            f"per sequence of {seq_len} tokens"]
    if v.one_head:
        bits.append("for one head")
    if v.ew == "elementwise":
        bits.append("counted elementwise")
    elif v.ew == "as_mac":
        bits.append("at 2 FLOPs per element, as if each were a multiply-add")
    elif d["matmul"]:
        bits.append("at 1 FLOP per multiply-add (MACs)" if v.fpm == 1
                    else "at 2 FLOPs per multiply-add")
    if v.attention == "causal":
        bits.append("counting only the causal L(L+1)/2 scores")
    return f"{name}, " + ", ".join(bits)


_SAID = {"block": "“per layer”", "token": "“per token”", "head": "“per head”",
         "total": "“total”"}


def figure_reason(f, seq_len: int) -> str:
    """One finding of the figure check in words the author can act on."""
    if f.code == "no-quantity":
        return "matches no quantity of this model"
    what = quantity_text(f.quantity, seq_len)
    also = "".join(f"; also {quantity_text(o, seq_len)}" for o in f.others[:1])
    if f.code == "dimension":
        return f"is {what}"
    if f.code == "equals":
        return f"equals {what}" + also
    if f.code == "mac-count":
        return (f"is the MAC count, half the FLOPs: it equals {what}; at 2 FLOPs per "
                f"multiply-add that is {_number_text(f.right)} FLOPs")
    if f.code == "flops-for-macs":
        return (f"is the FLOP count, twice the multiply-adds: it equals {what}; as MACs that "
                f"is {_number_text(f.right)}")
    if f.code == "elementwise-as-mac":
        return f"counts elementwise work as multiply-adds: it equals {what}"
    said = " and ".join(_SAID[w] for w in f.said) or "what the text says"
    return f"equals {what}, not {said} as the text says"


def _figure_cell(f) -> str:
    return f"{f.text} {f.unit}".strip()


def _figure_notes(result: AuditResult) -> list[str]:
    arch, workload = result.figure_model
    notes = [f"Model: {arch.describe()}; seq_len={workload.seq_len}, batch={workload.batch}"]
    g = result.guess
    if g is not None:
        found = ", ".join(f"{k}={v:,} (line {line})" for k, (v, line) in g.found.items())
        notes.append(f"Inferred from the text: {g.start}" + (f"; stated: {found}" if found
                                                             else ""))
        notes.append("Against an inferred model a figure that would be wrong is suspect: "
                     "it does not fail the audit (give the model to make it count)")
        if g.assumed:
            notes.append("Not stated in the text (taken from the "
                         f"{g.start.split(' (')[0]}): {', '.join(g.assumed)}; give the model "
                         "(--preset, --config or the size options) to check against another")
    notes.append("Every figure the text states alone (not a factor of an expression) is "
                 "matched against flopcalc's quantities of this model: each operation's and "
                 "group's FLOPs per sequence and per decoded token, one block and all blocks, "
                 "at 1 or 2 FLOPs per multiply-add, dense or causal, all heads or one; "
                 "parameters per tensor, per block and in total; weight and KV-cache bytes in "
                 "fp32, bf16/fp16, int8/fp8 and int4. A rounded figure matches within half its "
                 "last digit (GB as 10^9 or 2^30). FLOPs are 2 per multiply-add unless the "
                 "figure says MACs.")
    return notes


def figures_table(result: AuditResult, brief: bool = False) -> Table:
    """The figure check as a table: each figure, its verdict and what it equals."""
    seq_len = result.figure_model[1].seq_len
    t = Table(title="Figures against the model", notes=_figure_notes(result),
              columns=["line", "figure", "verdict", "reason"], align="rlll", name="figures",
              summary_totals=True)
    for f in result.figures:
        t.rows.append([f.line, _figure_cell(f), f.verdict, figure_reason(f, seq_len)])
    k = len(result.wrong_figures)
    unmatched = sum(f.verdict == "unmatched" for f in result.figures)
    suspect = sum(f.verdict == "suspect" for f in result.figures)
    t.totals.append(["", f"{k} of {len(result.figures)} wrong", "",
                     ", ".join(x for x in (f"{suspect} suspect" if suspect else "",
                                           f"{unmatched} match no quantity" if unmatched
                                           else "") if x)])
    return t


def figures_json(result: AuditResult) -> dict | None:
    """The figure check for the JSON: the model, what was inferred, every finding."""
    if result.figures is None:
        return None
    arch, workload = result.figure_model
    g = result.guess
    seq_len = workload.seq_len
    return {"model": {**arch.as_dict(), "seq_len": workload.seq_len, "batch": workload.batch},
            "inferred": None if g is None else {
                "start": g.start, "stated": {k: {"value": v, "line": line}
                                             for k, (v, line) in g.found.items()},
                "not_stated": list(g.assumed)},
            "findings": [{**f.as_dict(), "reason": figure_reason(f, seq_len)}
                         for f in result.figures]}


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
    conv = result.conventions
    if result.claims_file is not None:
        doc = result.claims_file.document
        title = "Claims audit" + (f": {doc.title}" if doc.title else "")
        t = Table(
            title=title,
            notes=[_model_note(doc), f"Conventions of the document: {conv.describe()}",
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
            optional=("quantity", "as written", "stated", "recomputed", "flopcalc"), name="claims",
            summary_totals=True)
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
            align="rlrrlr", optional=("difference",) if brief else (), name="arithmetic",
            summary_totals=True)
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
    if result.figures is not None:
        tables.append(figures_table(result, brief))
    if result.claims_file is not None:  # the corrected tables need the document's model
        doc = result.claims_file.document
        tables.append(flop_table(flop_report(doc.model, conv, workload=doc.workload)))
        tables.append(shape_table(shape_report(doc.model, workload=doc.workload)))
    return tables


# ----------------------------------------------------------------------------- JSON

def _model_note(doc) -> str:
    """The document's model in one line: its GPT-2 Config, or its architecture and input."""
    if doc.config is not None:
        return config_note(doc.config)
    w = doc.workload
    return f"Model: {doc.architecture.describe()}; seq_len={w.seq_len}, batch={w.batch}"


def _model_dict(doc) -> dict:
    """The document's model as the JSON writes it: the GPT-2 Config's fields (as always),
    else the architecture's with the workload's."""
    if doc.config is not None:
        return doc.config.as_dict()
    return {**doc.architecture.as_dict(), "seq_len": doc.workload.seq_len,
            "batch": doc.workload.batch}


def audit_json(result: AuditResult) -> dict:
    """The audit as a JSON document (schema ``flopcalc.audit``, docs/audit.md)."""
    conv = result.conventions
    doc = result.claims_file.document if result.claims_file else None
    counts = None
    if doc is not None:
        report = flop_report(doc.model, conv, workload=doc.workload)
        full = flop_report(doc.model, Conventions(flops_per_mac=conv.flops_per_mac,
                                                  attention=conv.attention,
                                                  elementwise=conv.elementwise),
                           workload=doc.workload)
        counts = {"block": report.block_total, "blocks": report.blocks_total,
                  "total": report.total, "forward_with_embeddings_and_lm_head": full.total,
                  "lm_head": full.section_total("head")}
    return {
        "schema": "flopcalc.audit", "schema_version": JSON_SCHEMA_VERSION,
        "ok": result.ok,
        "document": ({"title": doc.title, "author": doc.author,
                      "claims": result.claims_file.source} if doc else None),
        "config": _model_dict(doc) if doc is not None else None,
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
            "figures": None if result.figures is None else len(result.figures),
            "figures_wrong": None if result.figures is None else len(result.wrong_figures),
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
        "figures": figures_json(result),
        "warnings": list(result.warnings),
        "notes": list(result.notes),
        "flopcalc": counts,
    }
