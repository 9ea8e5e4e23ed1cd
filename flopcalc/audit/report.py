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
from ..architecture import NORM_NAMES
from ..config import Config, Conventions, FlopcalcError
from ..tables import JSON_SCHEMA_VERSION, Table, config_note, flop_table, shape_table
from .arithmetic import (MAX_BITS, MAX_DEGREE, MAX_DIGITS, MAX_EXPONENT, MAX_ROOT_INDEX, WINDOW,
                         analyse, fenced_code_blocks)
from ..model import ELEMENTWISE_COST
from .claims import (GROUP_KEYS, INPUT_LABELS, SHAPE_KINDS, ClaimResult, ClaimsFile, Code,
                     claims_for_text, document_sha256, evaluate_claims, finding_json,
                     json_value, load_claims, similar_claims)

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


# ----------------------------------------------------------------------------- claims in words
# The English of the claims audit, written here from the findings' data (claims.py records
# them; claims.Code lists the reason codes).

FAMILY_TITLES = {"gpt2": "GPT-2"}  # how a family is named in a sentence (else its name)
ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth")
ACTIVATION_NAMES = {"gelu_tanh": "GELU", "gelu": "GELU (erf)", "relu": "ReLU", "silu": "SiLU"}
ROLE_TEXT = {"embedding": "the embedding lookup", "embedding.positions": "the position-embedding add",
             "embedding.scale": "the embedding scaling", "attention.q": "the Q projection",
             "attention.k": "the K projection", "attention.v": "the V projection",
             "attention.qkv": "the fused QKV projection",
             "attention.scores": "the attention scores Q·Kᵀ", "attention.scale": "the score scaling",
             "attention.softcap": "the score soft-cap", "attention.mask": "the causal mask",
             "attention.softmax": "the softmax", "attention.values": "softmax·V",
             "attention.o": "the output projection W_o", "mlp.gate": "the MLP's gate projection "
             "(d_model → d_ff)", "mlp.gate_up": "the MLP's fused gate and up projection",
             "mlp.mul": "the gate product act(g)·u", "lm_head": "the LM head",
             "lm_head.softcap": "the logit soft-cap"}
ACTIVATION_SHAPE_NAMES = {
    "q": "the queries Q", "k": "the keys K", "v": "the values V", "heads": "the head split",
    "q_heads": "Q split into heads", "k_heads": "K split into heads",
    "v_heads": "V split into heads", "scores": "the attention scores",
    "attn_values": "softmax·V per head", "attn_output": "the merged heads",
    "ffn_hidden": "the FFN's hidden activation", "logits": "the logits"}


class Words:
    """The model's operations, groups, tensors and counts in words (a ``claims.Model``)."""

    def __init__(self, model):
        self.m = model

    def op_text(self, name: str) -> str:
        """What an op is, in words ("the first LayerNorm", "the Q projection", "GELU")."""
        m = self.m
        op = m.ops("sequence")[name]
        norm = NORM_NAMES.get(m.arch.norm, "norm")
        plain = m.arch.mlp == "plain"
        if op.role == "norm":
            if op.section == "head":
                return f"the final {norm}"
            norms = m._block_norms()
            if name in norms:
                return f"the {ORDINALS[norms.index(name)]} {norm}"
            return f"{name} ({op.computes})"
        if op.role == "residual":
            adds = [o.name for o in m.ops("sequence").values() if o.role == "residual"]
            return f"the {ORDINALS[adds.index(name)]} residual add"
        if op.role == "mlp.up":
            return ("the FFN's first matmul (d_model → d_ff)" if plain
                    else "the MLP's up projection (d_model → d_ff)")
        if op.role == "mlp.down":
            return ("the FFN's second matmul (d_ff → d_model)" if plain
                    else "the MLP's down projection (d_ff → d_model)")
        if op.role == "mlp.act":
            return ACTIVATION_NAMES.get(m.arch.activation, m.arch.activation)
        if op.role == "attention.rotary":
            return f"the rotary embedding ({op.computes.split(':')[0]})"
        return ROLE_TEXT.get(op.role, f"{name} ({op.computes})")

    def group_text(self, key: str) -> tuple[str, str]:
        """(what a group is, the noun of its matmuls for "k of the n <noun>")."""
        plain = self.m.arch.mlp == "plain"
        return {"qkv_proj": ("the Q, K and V projections", "Q, K, V projections"),
                "attention": ("attention (scores, softmax·V, W_o)", "attention matmuls"),
                "self_attention": ("self-attention with its Q, K, V projections",
                                   "self-attention matmuls"),
                "ffn": (("the FFN (both matmuls)", "FFN matmuls") if plain else
                        ("the MLP (gate, up and down projections)", "MLP matmuls")),
                "block": ("a transformer block", "block matmuls"),
                "forward": ("the whole forward pass", "operations")}[key]

    def what(self, label: str) -> str:
        """A quantity in words: a group key, an op key or an op name."""
        if label in GROUP_KEYS:
            return self.group_text(label)[0]
        parts = self.m.parts_of(label)
        return self.op_text(parts[0]) if parts else label

    def quantity_name(self, label: str, parts) -> str:
        """A quantity of the figure check in words: "the FFN (both matmuls)", or for a
        subset of a group's matmuls "q_proj + k_proj (2 of the 3 Q, K, V projections)"."""
        if not label.startswith("subset:"):
            return self.what(label)
        group = label.split(":", 1)[1]
        members = self.m.matmuls(self.m.live(self.m.parts_of(group)))
        return (" + ".join(parts) + f" ({len(parts)} of the {len(members)} "
                f"{self.group_text(group)[1]})")

    def label_text(self, label: str) -> str:
        """What an ``input.*`` label names, in words."""
        m = self.m
        ops = m.ops("sequence")
        norm = NORM_NAMES.get(m.arch.norm, "norm")
        first = lambda key: (m.parts_of(key) or ("",))[0]  # noqa: E731
        act = ACTIVATION_NAMES.get(m.arch.activation, m.arch.activation)
        if label == "embedding":
            return f"the embeddings {ops[first('embed')].computes.split('= ', 1)[-1]}"
        if label == "ln_1_output":
            return f"{first('ln_1')}(x), the first {norm} of the residual stream x"
        if label == "heads_concat":
            return "the concatenated heads (softmax·V of every head)"
        if label == "attention_output":
            return "the attention output (after W_o)"
        if label == "residual":
            return "the residual stream after a residual add"
        if label == "ln_2_output":
            ln = first("ln_2")
            text = self.op_text(ln).removeprefix("the ") if ln else norm
            return (f"{ln}(x + attention output), the {text} of the residual stream after the "
                    "attention's residual add")
        if label == "ffn_hidden":
            return (f"the FFN's hidden activation {act}(x·W_1)" if m.arch.mlp == "plain" else
                    f"the MLP's hidden activation {act}(x·W_gate)·(x·W_up)")
        if label == "ffn_output":
            return "the FFN output (after W_2)"
        return f"{first('ln_f')}(x), the final {norm} of the last block's output"

    def shape_name(self, key: str) -> str:
        """A shape quantity in words ("the embedded input x = wte[tokens] + wpe[positions]")."""
        m = self.m
        if SHAPE_KINDS[key] == "weight":
            stem = m.weight_param(key).name.removesuffix(".weight")
            plain = m.arch.mlp == "plain"
            return {"wte": f"the token embedding matrix {stem}",
                    "wpe": f"the position embedding matrix {stem}",
                    "w_qkv": f"the fused W_qkv ({stem})", "wq": "W_q", "wk": "W_k", "wv": "W_v",
                    "wo": f"W_o ({stem})",
                    "w_ffn_up": (f"the FFN's first weight W_1 ({stem})" if plain
                                 else f"the MLP's up weight W_up ({stem})"),
                    "w_ffn_down": (f"the FFN's second weight W_2 ({stem})" if plain
                                   else f"the MLP's down weight W_down ({stem})")}[key]
        if key == "embedding_input":
            embed = m.parts_of("embed")
            return ("the embedded input " + m.ops("sequence", None, True)[embed[0]].computes
                    if embed else "")
        return ACTIVATION_SHAPE_NAMES[key]

    def short_name(self, key: str) -> str:
        """A shape quantity's name without its formula ("the embedded input x")."""
        return self.shape_name(key).split(" = ")[0]

    def scope_text(self, scope: str, position=None) -> str:
        if scope == "token":
            t = self.m.position(position)
            return f"per token (one new token at position {t}, attending to {t} keys via a KV cache)"
        return f"per sequence of {self.m.seq_len} tokens"

    @staticmethod
    def blocks_text(blocks: int) -> str:
        return "one block" if blocks == 1 else f"{blocks} blocks"

    def ref_text(self, ref, position=None, block_op=True) -> str:
        text = self.scope_text(ref.scope, position)
        return text + (f", {self.blocks_text(ref.blocks)}" if block_op else "")

    def _subset_text(self, match, position, counted: bool) -> str:
        m = self.m
        group = match.quantity.split(":", 1)[1]
        members = m.matmuls(m.live(m.parts_of(group)))
        noun = self.group_text(group)[1] if group in GROUP_KEYS else self.what(group)
        v, parts = match.variant, match.parts
        if not counted:
            return f"{len(parts)} of the {len(members)} {noun}"
        vals = {m.op_value(p, v, position) for p in parts}
        if len(vals) == 1 and len({m.op_value(p, v, position) for p in members}) == 1:
            each = m.count(parts[:1], v, position) if m.in_blocks(parts) else vals.pop()
            return f"{len(parts)} of the {len(members)} {noun} ({len(parts)} × {fmt(each)})"
        return " + ".join(parts) + f" ({len(parts)} of the {len(members)} {noun})"

    def describe(self, match, ref, position=None) -> str:
        """What a count is, in full ("2 of the 3 Q, K, V projections (2 × 150,994,944), per
        sequence of 128 tokens, for one block")."""
        m, v, label = self.m, match.variant, match.quantity
        what = (self._subset_text(match, position, True) if label.startswith("subset:")
                else self.what(label))
        bits = []
        if v.one_head:
            bits.append("for one head")
        bits.append(self.scope_text(v.scope, position))
        if m.in_blocks(match.parts):
            bits.append(f"for {self.blocks_text(v.blocks)}")
        if v.ew == "elementwise":
            ops = m.ops("sequence")
            costs = sorted({ELEMENTWISE_COST[ops[p].cost] for p in match.parts if ops[p].cost})
            bits.append(f"counted elementwise ({'/'.join(map(str, costs))} per element)")
        elif v.ew == "as_mac":
            bits.append(f"at {v.fpm} FLOPs per element, as if each were a multiply-add")
        elif v.fpm != ref.fpm and m.matmuls(match.parts):
            bits.append("at 1 FLOP per multiply-add (MACs)" if v.fpm == 1
                        else "at 2 FLOPs per multiply-add")
        if v.attention != ref.attention:
            bits.append("counting only the causal L(L+1)/2 scores" if v.attention == "causal"
                        else "counting the dense L×L scores")
        return f"{what}, " + ", ".join(bits)

    def brief(self, match, ref) -> str:
        """``describe`` for a headline: the quantity, and only the assumptions that differ
        from the claim's ("2 of the 3 Q, K, V projections"; "softmax·V per token, for one
        block")."""
        m, v, label = self.m, match.variant, match.quantity
        what = (self._subset_text(match, None, False) if label.startswith("subset:")
                else self.what(label))
        bits = []
        if v.one_head:
            bits.append("for one head")
        if v.scope != ref.scope:
            bits.append("per token" if v.scope == "token" else "per sequence")
        if m.in_blocks(match.parts) and v.blocks != ref.blocks:
            bits.append(f"for {self.blocks_text(v.blocks)}")
        if v.ew == "elementwise":
            bits.append("counted elementwise")
        elif v.ew == "as_mac":
            bits.append(f"at {v.fpm} FLOPs per element")
        elif v.fpm != ref.fpm and m.matmuls(match.parts):
            bits.append("in multiply-adds" if v.fpm == 1 else "at 2 FLOPs per multiply-add")
        if v.attention != ref.attention:
            bits.append(f"{v.attention} attention")
        return " ".join([what, ", ".join(bits)]).strip()

    def either(self, f: dict) -> str:
        """A finding's match in full, and a second one as cheap ("… (or …)")."""
        first = self.describe(f["matches"], f["variant"], f.get("position"))
        if f.get("also") is None:
            return first
        return f"{first} (or {self.describe(f['also'], f['variant'], f.get('position'))})"

    def right_text(self, right: tuple | None) -> str:
        """The right value, for a headline: 'flopcalc: 452,984,832 (per sequence, one block)',
        'the stated 1,207,959,552 is right', "the expression's … is right"."""
        if right is None:
            return ""
        if right[0] == "count":
            _, value, ref, block_op = right
            where = "per token" if ref.scope == "token" else "per sequence"
            return (f"flopcalc: {fmt(value)} ({where}"
                    + (f", {self.blocks_text(ref.blocks)})" if block_op else ")"))
        value = right[1]
        shown = shape_text(value) if isinstance(value, tuple) else fmt(value)
        return (f"the stated {shown} is right" if right[0] == "stated"
                else f"the expression's {shown} is right")


def _diff_text(stated, value) -> str:
    d = stated - value
    return f"{fmt(abs(d))} {'less' if d < 0 else 'more'}"


def _assigned(values: dict) -> str:
    return ", ".join(f"{k} = {fmt(v)}" for k, v in values.items())


def _multiplicity_text(w: Words, x: dict) -> tuple[str, str]:
    """What a stray factor labelled FLOPs is, in full and short."""
    if x["of"] == "matmuls":
        q = x["quantity"]
        noun = w.group_text(q)[1] if q in GROUP_KEYS else w.what(q)
        return (f"is the number of {noun} ({' and '.join(x['parts'])}, each "
                f"{' × '.join(str(d) for d in x['dims'])} multiply-adds), not FLOPs",
                f"is the number of {noun}, not FLOPs")
    if x["of"] in ("blocks", "heads"):
        return (f"is the number of {x['of']}, not FLOPs",) * 2
    return ("is not accounted for by flopcalc's count",) * 2


def _side_text(side: str) -> str:
    return "the stated shape" if side == "stated" else "the written form"


def _render(f: dict, w: Words) -> tuple[str | None, tuple | None]:
    """A finding in words: (its reason or None, its headline candidate (rank, text, whether
    it states the right value) or None). Rank 0-1 is what is most wrong (the claim's scope
    or kind), 2 a term counted twice or mixed, 3 what the figure is instead, 4 the
    arithmetic, 5 a label."""
    c = f["code"]
    if c == Code.EXPRESSION_HAS_UNKNOWN:
        sol = f["solution"]
        return (f"the expression has the unknown {', '.join(f['unknowns'])}"
                + (f"; the stated {fmt(f['stated'])} holds for {_assigned(sol)}" if sol else ""),
                None)
    if c == Code.ARITHMETIC_MISMATCH:
        computed, stated = f["computed"], f["stated"]
        return (f"the expression evaluates to {fmt(computed)}; the stated {fmt(stated)} is "
                f"{_diff_text(stated, computed)}",
                (4, f"the expression gives {fmt(computed)}, not the stated {fmt(stated)}", False))
    if c == Code.DIMENSION_DIFFERS:
        d, right, stated = f["dimension"], f["right"], f["stated"]
        return (f"{d} is {fmt(right)} in the document's own config"
                + (f"; {fmt(stated)} is {f['stated_is']}" if f["stated_is"] else ""),
                (1, f"{d} is {fmt(right)} in the document's config, not {fmt(stated)}", True))
    if c == Code.FLOPS_PER_MAC_DIFFERS:
        return (f"the document's counts use {f['right']} FLOPs per multiply-add",
                (1, f"the document counts {f['right']} FLOPs per multiply-add, not "
                    f"{fmt(f['stated'])}", True))
    if c == Code.MULTIPLY_ADD_IS_NOT_A_DOT_PRODUCT:
        k, stated, per = f["d_head"], f["right"], f["per"]
        return (f"{fmt(stated)} FLOPs (one multiplication and one addition) is the cost of one "
                f"multiply-add, not of a {per}: a dot product of length {k} (d_head, one "
                f"query·key) is {k} multiplications and {k - 1} additions, {2 * k - 1} ≈ "
                f"{stated} × {k} FLOPs; the count {fmt(stated)} per multiply-add is right",
                (1, f"{fmt(stated)} FLOPs is one multiply-add, not one {per} (one of length "
                    f"{k} is {2 * k - 1} FLOPs)", True))
    if c == Code.RATE_FOR_COUNT:
        return (f"{f['stated']} (floating-point operations per second) is a rate, a hardware's "
                "throughput; the document's figures are counts of operations, FLOPs "
                "(lower-case s, a plural), with no time in them",
                (1, f"{f['stated']} is a rate per second; the figures are counts, FLOPs", True))
    if c == Code.WRONG_INPUT:
        what, source = w.what(f["op"]), f["source"]
        right = w.label_text(f["right"]) if f["right"] in INPUT_LABELS else w.op_text(source)
        stated = w.label_text(f["stated"])
        reason = f"the input of {what} is {right} (the output of {source}), not {stated}"
        if f["before"]:
            reason += f": {f['before']} → {' → '.join(f['path'])} → {'/'.join(f['parts'])}"
            if f["residual_stream"]:
                reason += (" (the embeddings are the residual stream of block 0 only; every "
                           f"block reads its residual stream through its own {source})")
        else:
            reason += f", which is computed after {what}"
        return reason, (1, f"its input is {right.split(', ')[0]}, not {stated.split(' (')[0]}",
                        True)
    if c == Code.WRITTEN_SHAPE_DIFFERS:
        written, stated = shape_text(f["computed"]), shape_text(f["stated"])
        return (f"the written form {written} and the stated {stated} differ",
                (4, f"the written {written} is not the stated {stated}", False))
    if c == Code.STATED_SHAPE_RIGHT:
        return f"the stated {shape_text(f['stated'])} is right", None
    if c == Code.SHAPE_DIFFERS:
        return None, None
    if c == Code.NEVER_SPLIT_INTO_HEADS:
        what, right = w.short_name(f["tensor"]), shape_text(f["right"])
        return (f"the split is of {what} (claim {f['claim']}), which is never split into "
                f"heads: the attention splits Q, K and V (each {shape_text(f['q_shape'])}) "
                f"into {right}",
                (0, f"{what} is never split into heads; Q, K and V are, as {right}", True))
    name = w.shape_name(f["key"]) if "key" in f else ""
    if c == Code.WEIGHT_WITH_BATCH_DIMENSION:
        right, fused = shape_text(f["right"]), f["fused"]
        return (f"a weight has no batch dimension: {name} is {right}, one matrix shared by "
                "every sequence of the batch"
                + (f" ({FAMILY_TITLES.get(fused[0], fused[0])} stores W_q, W_k, W_v side by "
                   f"side as {fused[1]} {shape_text(fused[2])})" if fused else ""),
                (1, f"a weight has no batch dimension: {name} is {right}", True))
    if c == Code.HEAD_SPLIT_SWAPPED:
        heads, dh, right = f["heads"], f["d_head"], shape_text(f["right"])
        return (f"the head split has its last two dimensions swapped: {heads * dh} splits as "
                f"{heads} heads × {dh} (head-major), {right}, transposed to "
                f"{shape_text(f['transposed'])} for attention; {shape_text(f['shape'])} would "
                f"deal every {heads}th feature to a head",
                (1, f"its last two dimensions are swapped: the head split is {right}", True))
    if c == Code.SIZES_IN_WRONG_ORDER:
        what, right = _side_text(f["side"]), shape_text(f["right"])
        return (f"{what} has the right sizes in the wrong order: {name} is {right}",
                (1, f"{what} has its sizes in the wrong order: {name} is {right}", True))
    if c == Code.DECODE_SHAPE_FOR_SEQUENCE:
        what, L = _side_text(f["side"]), f["seq_len"]
        shape, right = shape_text(f["shape"]), shape_text(f["right"])
        return (f"{what} {shape} is {name} of one token decoded with a KV cache (per-token "
                f"scope); a full forward over {L} tokens computes them for all {L} tokens: "
                f"{right}",
                (1, f"{what.replace(' form', '')} {shape} is for one decoded token; a forward "
                    f"over {L} tokens gives {right}", True))
    if c == Code.SHAPE_OF_ANOTHER_TENSOR:
        what, shape, right = _side_text(f["side"]), shape_text(f["shape"]), shape_text(f["right"])
        return (f"{what} {shape} is the shape of {w.shape_name(f['matches'])} (an {f['kind']}), "
                f"not of {name} {right}",
                (1, f"{what} {shape} is the shape of {w.short_name(f['matches'])}; {name} is "
                    f"{right}", True))
    if c == Code.SHAPE_IS:
        text = f"{name} is {shape_text(f['right'])}"
        return text, (3, text, True)
    if c in (Code.ACTIVATION_LISTED_AS_WEIGHT, Code.WEIGHT_LISTED_AS_ACTIVATION):
        kind, listed, weights = f["right"], f["listed_as"], f["weights"]
        what = ("it has the batch dimension" if kind == "activation"
                else "it has no batch dimension")
        head = (f"{shape_text(f['shape'])} is right for {name}, but that is"
                if f["shape_right"] else f"{name} is")
        listed_weights = ", ".join(f"{n} {shape_text(s)}" for n, s in weights)
        return (f"{head} an {kind} ({what}), not a {listed} matrix"
                + (f"; the weights of {f['owner']} are {listed_weights}" if weights else ""),
                (1, f"{w.short_name(f['key'])} is an {kind}, not a {listed} matrix"
                    + (f"; its weight {weights[0][0].removesuffix('.weight')} is "
                       f"{shape_text(weights[0][1])}" if weights else ""), True))
    if c == Code.COUNT_DIFFERS:
        breakdown, text = f.get("breakdown"), ""
        if breakdown is not None:
            sum_text = " + ".join(f"{p} {fmt(x)}" for p, x in breakdown)
            if f["blocks"] != 1:
                text = f"; one block: {fmt(sum(x for _, x in breakdown))} = {sum_text}"
            elif len(breakdown) > 1:
                text = f" = {sum_text}"
        return (f"flopcalc: {fmt(f['right'])} "
                f"({w.ref_text(f['variant'], f['position'], f['block_op'])}{text})", None)
    if c == Code.STATED_VALUE_RIGHT:
        return "the stated value is flopcalc's count; the expression is off", None
    if c == Code.EXPRESSION_RIGHT:
        return "the expression is right; the stated result is not", None
    if c == Code.EQUALS_ANOTHER_QUANTITY:
        value, brief = fmt(f["value"]), w.brief(f["matches"], f["variant"])
        if f.get("term"):
            return (f"{value} equals {w.either(f)}", (3, f"{value} is {brief}", False))
        return (f"the stated {value} equals {w.either(f)}",
                (3, f"the stated {value} is {brief}", False))
    if c == Code.EXPRESSION_EQUALS_ANOTHER_QUANTITY:
        return f"the expression's {fmt(f['value'])} equals {w.either(f)}", None
    if c == Code.LM_HEAD_OUTSIDE_SCOPE:
        return f"the LM head, outside the document's scope, would add {fmt(f['value'])}", None
    if c == Code.LABELS_DO_NOT_MATCH_FACTORS:
        return f"labels lists {f['labels']} labels for {f['factors']} factors", None
    if c == Code.FACTOR_LABELLED_WRONGLY:
        if f["label"] != "flops":
            text = (f"the factor {f['factor']} labelled {f['label']} is not {f['dimension']} "
                    f"({fmt(f['right'])})")
            return text, (5, text, False)
        listed, fpm, extra = ", ".join(f["factors"]), f["flops_per_mac"], fmt(f["extra"])
        what, short = _multiplicity_text(w, f["multiplicity"])
        if len(f["factors"]) > 1:
            return (f"of the {len(f['factors'])} factors labelled FLOPs ({listed}), one is the "
                    f"{fpm} FLOPs per multiply-add; the other {extra} {what}",
                    (5, f"one of the factors labelled FLOPs ({listed}) {short}", False))
        return (f"the factor labelled FLOPs ({listed}) is not the {fpm} FLOPs per multiply-add; "
                f"{extra} × {fpm} {what}",
                (5, f"the factor labelled FLOPs ({listed}) is {extra} × {fpm}: {extra} {short}",
                 False))
    if c == Code.UNATTRIBUTED_TERM:
        value, extra = fmt(f["value"]), f["elementwise"]
        hint = f"{value} is {f['dimension']}" if f["dimension"] else ""
        return (f"no operation of flopcalc's count of {f['sum']} is {value} FLOPs"
                + (f" (matmuls only; counting elementwise work would add {fmt(extra)}, not "
                   f"{value})" if extra else "") + (f"; {hint}" if hint else ""),
                (1, f"no operation of {f['sum']} is {value} FLOPs"
                    + (f" ({hint})" if hint else "") + "; flopcalc counts 0 for it", True))
    if c == Code.ELEMENTWISE_NOT_A_DOT_PRODUCT:
        what = (f"{w.what(f['op'])} is elementwise, not a dot product: 0 FLOPs in a "
                "matmul-only count")
        return (f"{what}; counted elementwise it is {fmt(f['counted'])} "
                f"({fmt(f['per_block'])} per block)", (1, what, True))
    if c == Code.TOTAL_TAKES_EXPRESSION_VALUE:
        t, value, instead = f["term"], fmt(f["value"]), fmt(f["instead"])
        return (f"it is the sum with {t} taken at its expression's value {value} instead of "
                f"{instead}",
                (4, f"its stated total takes {t} as {value}, its expression's value, not "
                    f"{instead}", False))
    if c == Code.TOTAL_WITHOUT_TERM:
        t, v = f["term"], f["value"]
        return (f"the stated value is the sum without {t} ({'+' if v > 0 else '-'} "
                f"{fmt(abs(v))})",
                (3, f"the expression {'adds' if v > 0 else 'subtracts'} {fmt(abs(v))} ({t}), "
                    f"giving {fmt(f['total'])}", False))
    if c == Code.TERM_DIFFERS_FROM_ITS_CLAIM:
        t, value, stated = f["term"], fmt(f["value"]), fmt(f["stated"])
        return (f"{t} enters the sum as {value}, but its own claim states {stated}",
                (4, f"{t} enters it as {value}, not as its own stated {stated}", False))
    if c == Code.TERM_EQUALS_ANOTHER_QUANTITY:
        return (f"{f['term']} ({fmt(f['value'])}) is "
                f"{w.describe(f['matches'], f['variant'], f['position'])}", None)
    if c == Code.TERM_WRONG_ITSELF:
        return f"{f['term']} ({fmt(f['value'])}) is wrong itself (see {f['term']})", None
    if c == Code.TERM_LABEL:
        reasons, shorts = _rendered(f["findings"], w)
        return (f"in {f['term']}, " + reasons[-1],
                (5, f"in {f['term']}, " + min(shorts, key=lambda s: s[0])[1], False))
    if c == Code.COUNTED_TWICE:
        if "term" not in f:  # the term's own row
            text = f"counted twice: {f['inside']} already includes it"
            return text, (2, text, False)
        t, value, inside, inner = f["term"], fmt(f["value"]), f["inside"], f["inner"]
        return (f"{t} ({value}) is counted twice: {' + '.join(f['ops'])} is already inside "
                f"{inside}" + (f", whose {fmt(f['inside_value'])} includes {fmt(inner[1])} for "
                               f"it ({inner[0]})" if inner else ""),
                (2, f"{t} ({value}) is counted twice: {inside} includes it", False))
    if c == Code.TERM_WITHOUT_COUNTERPART:
        return (f"the term {f['text']} ({f['term']}) has no counterpart in flopcalc's count",
                (4, f"the term {f['text']} ({f['term']}) counts nothing flopcalc counts", False))
    if c == Code.MIXES_SCOPES:
        return ("it mixes per-token terms (" + ", ".join(f["token"]) + ") with per-sequence "
                "terms (" + ", ".join(f["sequence"]) + ")",
                (2, "it mixes per-token and per-sequence terms", False))
    if c == Code.ONE_BLOCK_FOR_MANY_BLOCKS:
        n, full, short = f["blocks"], "", ""
        if not f["factor_of_blocks"]:
            full, short = (f"; no factor of the expression is {n}, the number of blocks",
                           f" (no factor is {n})")
        elif f["heads_in"]:
            full = (f"; its only factors equal to {n} (in {' and '.join(f['heads_in'])}) are "
                    f"n_heads: those terms count all {n} heads of one block, and no factor "
                    f"counts the {n} blocks")
            short = f": its {n}s are n_heads"
        return (f"each term counts one block: the sum is not for {n} blocks" + full,
                (1, f"its terms count one block, not {n}" + short, False))
    if c == Code.REST_WITHOUT_TERM:
        return (f"without {f['term']} ({fmt(f['value'])}) the rest, {fmt(f['rest'])}, equals "
                f"{w.either(f)}", None)
    raise KeyError(c)


def _rendered(findings: list, w: Words) -> tuple[list[str], list[tuple]]:
    """The reasons and the headline candidates of a list of findings, in order (an
    ``expression-right`` finding drops the arithmetic's candidates before it: the right
    value says it)."""
    reasons, shorts = [], []
    for f in findings:
        reason, short = _render(f, w)
        if reason:
            reasons.append(reason)
        if f["code"] == Code.EXPRESSION_RIGHT:
            shorts = [s for s in shorts if s[0] != 4]
        if short:
            shorts.append(short)
    return reasons, shorts


def claim_reasons(r: ClaimResult) -> list[str]:
    """Every reason of a checked claim, in words, from its findings."""
    return _rendered(r.findings, Words(r.model))[0]


def claim_headline(r: ClaimResult) -> str:
    """One sentence for a wrong claim: its main problem (the first of the lowest rank) and
    the right value; empty for a claim that holds."""
    if r.verdict == "ok":
        return ""
    w = Words(r.model)
    reasons, shorts = _rendered(r.findings, w)
    if not shorts:
        return reasons[0] if reasons else ""
    _, text, complete = min(shorts, key=lambda s: s[0])
    right = w.right_text(r.right)
    return text + (f"; {right}" if right and not complete else "")


def claim_json(r: ClaimResult) -> dict:
    """A checked claim as the audit's JSON writes it (docs/audit.md)."""
    c, w = r.claim, Words(r.model)
    ref, position = r.model.reference(c), c.position

    def match(m):
        return {**m.as_dict(), "description": w.describe(m, ref, position)}

    reasons = claim_reasons(r)
    return {
        "id": c.id, "line": c.line, "quantity": c.quantity, "kind": c.kind,
        "scope": c.scope if c.kind == "flops" else None,
        "blocks": c.blocks if c.kind == "flops" else None,
        "as_written": as_written_text(r), "written": json_value(r.written),
        "stated": json_value(r.stated), "flopcalc": json_value(r.expected),
        "verdict": r.verdict, "headline": claim_headline(r), "reason": "; ".join(reasons),
        "reasons": reasons,
        "checks": dict(r.checks),
        "unknowns": {k: json_value(v) for k, v in r.unknowns.items()},
        "diagnosis": [match(m) for m in r.matches],
        "terms": [{"id": t.id, "written": t.text, "value": json_value(t.value),
                   "expected": t.expected, "quantity": t.quantity,
                   "diagnosis": match(t.match) if t.match else None} for t in r.terms],
        "term_of": r.term_of,
        "findings": [finding_json(f, lambda m: w.describe(m, f.get("variant", ref),
                                                          f.get("position", position)))
                     for f in r.findings],
    }


# ----------------------------------------------------------------------------- words and cells

# Why an equation cannot be evaluated (arithmetic.Equation.reason_code): its English, from the
# facts of the case (Equation.reason_facts).
REASONS = {
    "grouped-digits": "“{text}” has its digit groups split by spaces: one number or several? "
                      "(write {joined:,} or {value})",
    "stated-grouped-digits": "the stated “{text}” has its digit groups split by spaces: one "
                             "number or several? (write {joined:,} or {value})",
    "number-too-long": f"a number of more than {MAX_DIGITS:,} digits",
    "division-by-zero": "division by zero",
    "too-large": f"a value of more than {MAX_BITS:,} bits (over 4,000 digits)",
    "unknown-exponent": "an exponent with an unknown",
    "fractional-exponent": "the exponent {exponent} asks for a root of index {index}, beyond "
                           f"the roots taken (of index 2 to {MAX_ROOT_INDEX}: x^(1/n), "
                           "\\sqrt[n]{{x}}, √, ∛)",
    "exponent-too-large": f"an exponent beyond ±{MAX_EXPONENT:,}",
    "degree": f"a polynomial of degree above {MAX_DEGREE}",
    "too-long": f"an expression longer than {WINDOW} tokens, more than the parser reads",
    "negative-root": "an even root (square, fourth, ...) of a negative number",
    "root-of-unknown": "a root of an expression in unknowns",
    "inexact-root": "a root with no exact value",
    "root-undecided": "its roots leave the value too close to the stated number to "
                      "decide (no exact value)",
}


def reason_text(code: str, **facts) -> str:
    """The English of a reason code (``REASONS``) with the facts of the case."""
    return REASONS[code].format(**facts)


def shape_text(shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


def fmt(x) -> str:
    """A number with thousands separators (fractions as p/q)."""
    if isinstance(x, Fraction):
        if x.denominator != 1:
            return f"{x.numerator:,}/{x.denominator:,}"
        x = x.numerator
    return f"{x:,}"


def as_written_text(r: ClaimResult) -> str:
    """A claim as written, for its "as written" cell and the JSON: the expression (a term's
    with the unknowns its sum solved: "L × 64 (L = 128)"), else the stated figure or shape."""
    x = r.as_written
    text = shape_text(x) if isinstance(x, tuple) else fmt(x) if isinstance(
        x, (int, Fraction)) else x
    return text + (f" ({_assigned(r.unknowns)})" if r.term_of is not None and r.unknowns
                   else "")


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
    if x and abs(x) * 10**places < 1:  # "≈ 0.00001167", not "≈ 0.0000": 4 digits
        places = max(places, len(str(x.denominator // abs(x.numerator))) + 3)
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
    if e.carried is not None:  # the rounded restatement of the number before it, read exactly
        how += [f"{e.carried[0]} read as {decimal_text(e.carried[1])}, the value before it"]
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
        if q.key in ("params.attention", "params.ffn"):
            part = "the attention's" if q.key == "params.attention" else "the FFN's (MLP's)"
            where = (", in each block" if per == "block"
                     else f", over all {d.get('blocks')} blocks")
            return f"{part} parameters{where}"
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
    if f.code == "another-quantity":
        named = " and ".join(f"“{w}”" for w in f.named)
        return f"equals {what}, not the {named} the text names"
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
        notes.append(f"Inferred from the text: {g.start}"
                     + ("" if g.named else " (no model named)")
                     + (f"; stated: {found}" if found else ""))
        notes.append("Against an inferred model a figure that would be wrong is suspect: "
                     "it does not fail the audit (give the model to make it count)")
        if g.assumed:
            notes.append("Not stated in the text (taken from the "
                         f"{g.start}): {', '.join(g.assumed)}; give the model "
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
                "start": g.start, "model_named": g.named,
                "stated": {k: {"value": v, "line": line}
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
                           _quantity_cell(r), as_written_text(r), _cell(r.stated),
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
        "claims": [claim_json(r) for r in result.claims],
        "arithmetic": None if result.equations is None else [
            {"line": e.line, "expression": e.expression, "stated": json_value(e.stated),
             "computed": json_value(e.computed), "unknowns": list(e.unknowns),
             "solution": json_value(e.solution), "verdict": e.verdict,
             "difference": json_value(e.difference), "reason": e.reason or None,
             "reason_code": e.reason_code or None,
             "precision": json_value(e.precision), "approximate": e.approximate,
             "scale": e.scale, "unit": e.unit, "unit_name": e.unit_name or None,
             "holds_for_any": e.holds_for_any, "defined_later": list(e.defined_later),
             "carried": None if e.carried is None else
             {"written": e.carried[0], "read_as": json_value(e.carried[1])}}
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
