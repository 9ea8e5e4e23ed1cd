"""The claims audit: a document's numeric and shape claims, checked against flopcalc's model.

A claims file (TOML, format in docs/audit.md) transcribes every figure of a hand-written
analysis: what it claims to be (``quantity``, ``scope``, ``blocks``), the expression as
written and the value as stated. For each claim this module

(a) evaluates the written expression exactly (with ``arithmetic``, the parser of the text's
    equations) and compares it with the stated value;
(b) compares the stated value with flopcalc's own count of the quantity, derived from the
    model's layer groups (``architectures.build``) through ``analysis.op_flops`` under the
    document's conventions; the vocabulary's words name roles (``Model.parts_of``), so a
    claims file works for every architecture flopcalc builds;
(c) when they disagree, searches a catalogue of counts computed by flopcalc (every
    operation and group x per token / per sequence x one block / n_layers blocks x 1 or 2
    FLOPs per multiply-add x dense / causal x all heads / one head, and the subsets of a
    group's parts) for what the stated number actually equals, and for sums checks the
    addition and each term (counted twice, mixed scopes, one block for many, stray terms).

Each verdict is a finding, a record (``ClaimResult.findings``: its check, a reason code of
``Code`` and its facts: the right value, the quantity the figure matches, the term
concerned); this module writes no English. ``report.py`` writes every reason and headline
from the findings; no sentence of the document is copied.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import math
import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from dataclasses import fields as dataclass_fields
from enum import StrEnum
from fractions import Fraction
from importlib import resources
from itertools import combinations
from pathlib import Path

from .. import files
from ..analysis import op_flops
from ..architecture import Architecture, ArchitectureError, Workload
from ..architectures import build
from ..config import Config, Conventions, FlopcalcError
from ..model import ELEMENTWISE_COST, Op, elements
from .arithmetic import (Expression, ExpressionError, additive_terms, evaluate, factors,
                         parse_expression, solve)

CLAIMS_LIMIT = 1 * files.MiB  # a claims file is a few KB; the shipped one under 10 KB
MAX_COST = 4  # how far (in changed assumptions) a diagnosis may stray from the claim


# =========================================================================================
# Vocabulary: the quantities a claim may name.
# =========================================================================================

# The quantities a claims file may name. Their keys are words of the claims vocabulary
# (docs/audit.md), not operation names: ``Model`` finds each one's operations in any
# architecture by their roles (``model.Op.role``), so one claims file format serves GPT-2,
# Llama and every family flopcalc builds.
OP_KEYS = ("embed", "embed_add", "ln_1", "q_proj", "k_proj", "v_proj", "scores", "scale",
           "causal_mask", "softmax", "attn_values", "out_proj", "residual_1", "ln_2", "ffn_up",
           "gelu", "ffn_down", "residual_2", "ln_f", "lm_head")
# one op by its role: key -> role (the norms and residual adds are found by their place)
OP_ROLES = {"embed": "embedding", "embed_add": "embedding.positions", "q_proj": "attention.q",
            "k_proj": "attention.k", "v_proj": "attention.v", "scores": "attention.scores",
            "scale": "attention.scale", "causal_mask": "attention.mask",
            "softmax": "attention.softmax", "attn_values": "attention.values",
            "out_proj": "attention.o", "ffn_up": "mlp.up", "gelu": "mlp.act",
            "ffn_down": "mlp.down", "lm_head": "lm_head"}
GROUP_KEYS = ("qkv_proj", "attention", "self_attention", "ffn", "block", "forward")
PROJECTION_ROLES = ("attention.q", "attention.k", "attention.v", "attention.qkv")
FLOP_QUANTITIES = {f"flops.{k}" for k in OP_KEYS + GROUP_KEYS}

# shape quantities: key -> weight or activation (where each is found: ``Model.shape_source``)
SHAPE_KINDS = {"wte": "weight", "wpe": "weight", "w_qkv": "weight", "wq": "weight",
               "wk": "weight", "wv": "weight", "wo": "weight", "w_ffn_up": "weight",
               "w_ffn_down": "weight", "embedding_input": "activation", "q": "activation",
               "k": "activation", "v": "activation", "heads": "activation",
               "q_heads": "activation", "k_heads": "activation", "v_heads": "activation",
               "scores": "activation", "attn_values": "activation",
               "attn_output": "activation", "ffn_hidden": "activation", "logits": "activation"}
WEIGHT_ROLES = {"w_qkv": "attention.qkv", "wq": "attention.q", "wk": "attention.k",
                "wv": "attention.v", "wo": "attention.o", "w_ffn_up": "mlp.up",
                "w_ffn_down": "mlp.down"}
HEAD_SPLITS = {"heads", "q_heads", "k_heads", "v_heads"}
DIMS = ("d_model", "n_heads", "d_head", "n_layers", "d_ff", "seq_len", "vocab", "batch",
        "n_positions", "n_kv_heads")
# input.<op>: what a weighted matmul reads. The ops whose input a claim may name (qkv_proj: the
# three projections, which read one tensor), and the labels a claim may give it (what each
# names is found in the model by ``Model.label_ops``). flopcalc's answer is derived from the
# ops list (``Evaluator.producer``), then named by the label of that op.
INPUT_OPS = ("qkv_proj", "q_proj", "k_proj", "v_proj", "out_proj", "ffn_up", "ffn_down",
             "lm_head")
INPUT_LABELS = ("embedding", "ln_1_output", "heads_concat", "attention_output", "residual",
                "ln_2_output", "ffn_hidden", "ffn_output", "ln_f_output")
# convention.unit: what the document calls its counts; unit -> whether it is a count
UNITS = {"FLOPs": True, "FLOP": True, "FLOPS": False, "FLOP/s": False}
LABEL_QUANTITIES = {f"input.{k}" for k in INPUT_OPS} | {"convention.unit"}
QUANTITIES = (sorted(FLOP_QUANTITIES) + [f"shape.{k}" for k in SHAPE_KINDS]
              + [f"dim.{k}" for k in DIMS] + [f"input.{k}" for k in INPUT_OPS]
              + ["convention.flops_per_mac", "convention.unit", "unattributed"])
PER_MAC = {"multiply-add", "mac", "multiply-accumulate", "fma"}
LABEL_DIMS = {"tokens": "seq_len", "token": "seq_len", "embeddings": "d_model",
              "embedding": "d_model", "heads": "n_heads", "layers": "n_layers",
              "blocks": "n_layers"}


class Batch:
    """The batch dimension inside a shape (written ``batch_size`` in claims files)."""

    def __repr__(self) -> str:
        return "B"

    def __eq__(self, other) -> bool:
        return isinstance(other, Batch)

    def __hash__(self) -> int:
        return hash("Batch")

    def __lt__(self, other) -> bool:  # sortable among ints (for permutation checks)
        return False if isinstance(other, Batch) else True


BATCH = Batch()


def _value(expression: str | Expression, bindings: dict) -> Fraction | None:
    """The exact value of an expression, or None while a name of it has no value."""
    expr = parse_expression(expression) if isinstance(expression, str) else expression
    return None if expr.unknowns(bindings) else evaluate(expr, bindings)


# =========================================================================================
# The claims file.
# =========================================================================================

@dataclass(frozen=True)
class Document:
    """What a claims file says of its document: the model it analyses (``architecture`` on
    ``workload``; ``config`` is their GPT-2 Config when the model is one, else None), its
    counting conventions and the names it uses for dimensions."""

    title: str
    author: str
    config: Config | None
    conventions: Conventions
    names: dict             # document name -> dimension name (str) or number
    sha256: str | None = None  # the fingerprint of the document's text (document_sha256)
    architecture: Architecture | None = None
    workload: Workload | None = None

    def __post_init__(self) -> None:
        if self.architecture is None:
            object.__setattr__(self, "architecture", self.config.architecture)
        if self.workload is None:
            object.__setattr__(self, "workload", self.config.workload)

    @property
    def model(self):
        """What flopcalc's reports take: the GPT-2 Config, else the Architecture."""
        return self.config if self.config is not None else self.architecture

    def dim(self, name: str) -> int:
        """One of ``DIMS`` of the document's model and workload."""
        if name in ("seq_len", "batch"):
            return getattr(self.workload, name)
        return getattr(self.architecture, name)


@dataclass(frozen=True)
class Claim:
    id: str
    line: int | None
    quantity: str
    scope: str = "sequence"
    blocks: int = 1
    position: int | None = None
    expression: str | None = None
    stated: Fraction | None = None
    written_shape: tuple | None = None
    stated_shape: tuple | None = None
    listed_as: str | None = None
    labels: tuple = ()
    terms: tuple = ()
    per: str | None = None
    of: str | None = None      # shape.heads: the id of the claim whose tensor is said to be split

    @property
    def kind(self) -> str:
        return _kind(self.quantity)

    @property
    def key(self) -> str:
        return self.quantity.split(".", 1)[-1]


def _kind(quantity: str) -> str:
    """flops, shape, dim, input or convention (an unattributed term is a FLOP figure)."""
    return "flops" if quantity == "unattributed" else quantity.split(".")[0]


@dataclass(frozen=True)
class ClaimsFile:
    document: Document
    claims: tuple
    source: str

    def by_id(self) -> dict:
        return {c.id: c for c in self.claims}


_DOC_KEYS = {"title", "author", "config", "conventions", "names", "source", "sha256"}
_GPT2_CONFIG_KEYS = {"d_model", "n_heads", "n_layers", "d_ff", "vocab", "n_positions",
                     "seq_len", "batch", "qkv", "bias"}
# any other architecture: a preset or a family, and Architecture's fields on top
_CONFIG_KEYS = (_GPT2_CONFIG_KEYS | {"preset", "family"}
                | {f.name for f in dataclass_fields(Architecture)})
_CLAIM_KEYS = {"id", "line", "quantity", "scope", "blocks", "position", "expression",
               "stated", "written_shape", "stated_shape", "listed_as", "labels", "terms", "per",
               "of"}


def shipped_claims() -> list[str]:
    """Names of the claims files shipped in ``flopcalc/data`` (``flopcalc audit --claims NAME``)."""
    folder = resources.files("flopcalc") / "data"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_claims(source: str | Path) -> ClaimsFile:
    """A claims file: a shipped name (``gpt2-document``) or a path to a TOML file."""
    text_source = str(source)
    path = Path(source)
    looks_like_path = (isinstance(source, Path) or text_source.endswith(".toml")
                       or "/" in text_source or "\\" in text_source
                       or os.path.exists(path))  # (False, not OSError, for a too-long name)
    if looks_like_path:  # bounded, and a FIFO with no writer is not waited for
        text = files.read_text(path, "claims file", CLAIMS_LIMIT)
        return parse_claims(text, str(path))
    names = shipped_claims()
    if text_source not in names:
        raise FlopcalcError(f"unknown claims {text_source!r}: give a .toml path or one of "
                            f"{', '.join(names)}")
    text = (resources.files("flopcalc") / "data" / f"{text_source}.toml").read_text("utf-8")
    return parse_claims(text, text_source)


def document_sha256(text: str) -> str:
    """A document's fingerprint, as ``[document] sha256`` records it: the SHA-256 hex digest
    of its UTF-8 bytes, with CRLF line ends read as LF."""
    return hashlib.sha256(text.replace("\r\n", "\n").encode("utf-8", "surrogatepass")).hexdigest()


def claims_for_text(text: str, candidates=None) -> str | None:
    """The name of the shipped claims file whose ``sha256`` is the text's fingerprint, or
    None: how ``flopcalc audit FILE`` finds the claims of a known document by itself.
    ``candidates`` (claims names or paths) replaces the shipped files; the first match is
    returned as a string."""
    digest = document_sha256(text)
    for candidate in shipped_claims() if candidates is None else candidates:
        if _document_of(candidate, candidates is None).sha256 == digest:
            return str(candidate)
    return None


@functools.lru_cache(maxsize=None)
def _shipped_document(name: str) -> Document:
    """The ``[document]`` of a shipped claims file, read once: the package's data does not
    change while flopcalc runs (a claims file given as a path may, and is read each time)."""
    return load_claims(name).document


def _document_of(candidate, shipped: bool) -> Document:
    return _shipped_document(candidate) if shipped else load_claims(candidate).document


def similar_claims(text: str, candidates=None) -> list[str]:
    """The shipped claims files (or ``candidates``) whose document the text resembles without
    being it: its ``[document] title`` appears in the text (case and spacing aside)."""
    out = []
    for candidate in shipped_claims() if candidates is None else candidates:
        words = _document_of(candidate, candidates is None).title.split()
        # a pattern, not a normalised copy of the text: its memory does not grow with it
        if words and re.search(r"\s+".join(map(re.escape, words)), text, re.IGNORECASE):
            out.append(str(candidate))
    return out


def _err(source: str, where: str, msg: str) -> FlopcalcError:
    return FlopcalcError(f"claims file {source}: {where}{msg}".replace("\n", " "))


def _suggest(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_keys(raw: dict, allowed: set, source: str, where: str) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise _err(source, where, f"unknown key {unknown[0]!r}{_suggest(unknown[0], allowed)}")


MAX_TOML_NESTING = 32  # arrays and inline tables nested in a claims file (tomllib recurses)
# What may hold a bracket that opens or closes nothing: strings and comments (and the text
# between them, which has no bracket or quote).
_TOML_SKIP = re.compile(r'"""(?:[^"\\]|\\.|"(?!""))*"""'
                        r"|'''(?:[^']|'(?!''))*'''"
                        r'|"(?:[^"\\\n]|\\.)*"'
                        r"|'[^'\n]*'"
                        r"|#[^\n]*"
                        r"|[^\"'#\[\]{}]+")


def _toml_nesting(text: str) -> int:
    """The deepest nesting of [ ] and { } in a TOML text, outside strings and comments."""
    depth = deepest = pos = 0
    while pos < len(text):
        if m := _TOML_SKIP.match(text, pos):
            pos = m.end()
            continue
        c = text[pos]
        if c not in "[]{}":
            break  # an unclosed string: tomllib stops there too, and says why
        depth = depth + 1 if c in "[{" else max(0, depth - 1)
        deepest = max(deepest, depth)
        pos += 1
    return deepest


def parse_claims(text: str, source: str = "<claims>") -> ClaimsFile:
    """Parse and validate a claims file's TOML text; any problem is a one-line FlopcalcError."""
    if _toml_nesting(text) > MAX_TOML_NESTING:
        raise _err(source, "", f"brackets nested more than {MAX_TOML_NESTING} deep")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise _err(source, "", f"invalid TOML: {e}") from None
    unknown = set(data) - {"document", "claim"}
    if unknown:
        k = sorted(unknown)[0]
        raise _err(source, "", f"unknown table {k!r}{_suggest(k, ['document', 'claim'])}; "
                   "expected [document] and [[claim]]")
    document = _parse_document(data.get("document", {}), source)
    raw_claims = data.get("claim", [])
    if not isinstance(raw_claims, list) or not raw_claims:
        raise _err(source, "", "no [[claim]] entries")
    claims = [_parse_claim(raw, i, document, source) for i, raw in enumerate(raw_claims)]
    ids = [c.id for c in claims]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise _err(source, "", f"claim id {dupes[0]!r} is used twice")
    claims = _resolve_terms(claims, source)
    return ClaimsFile(document, tuple(claims), source)


def _parse_document(raw, source) -> Document:
    if not isinstance(raw, dict):
        raise _err(source, "", "[document] must be a table")
    _check_keys(raw, _DOC_KEYS, source, "[document]: ")
    cfg_raw = dict(raw.get("config", {}))
    _check_keys(cfg_raw, _CONFIG_KEYS, source, "[document.config]: ")
    qkv = cfg_raw.pop("qkv", None)
    if qkv not in (None, "fused", "separate"):
        raise _err(source, "[document.config]: ", f"qkv must be fused or separate, got {qkv!r}")
    architecture = workload = None
    try:
        if set(cfg_raw) <= _GPT2_CONFIG_KEYS:  # GPT-2's sizes: a Config, as it always was
            config = Config(**cfg_raw, fused_qkv=qkv != "separate")
        else:
            from ..architectures.presets import make_architecture

            load = {k: cfg_raw.pop(k) for k in ("seq_len", "batch") if k in cfg_raw}
            workload = Workload(**{"batch": 1, "seq_len": 128, **load})
            architecture = make_architecture(
                cfg_raw.pop("preset", None), None, cfg_raw.pop("family", None),
                cfg_raw.pop("bias", None),
                **({} if qkv is None else {"fused_qkv": qkv == "fused"}), **cfg_raw)
            workload.check(architecture)
            config = Config.of(architecture, workload)
        conventions = Conventions(**raw.get("conventions", {}))
    except FlopcalcError as e:
        raise _err(source, "[document]: ", str(e)) from None
    except TypeError as e:  # an unknown conventions key
        bad = re.search(r"'(\w+)'", str(e))
        raise _err(source, "[document.conventions]: ",
                   f"unknown key {bad.group(1) if bad else str(e)!r}") from None
    names = {field_: field_ for field_ in DIMS}
    for name, value in raw.get("names", {}).items():
        if isinstance(value, str) and value not in DIMS:
            raise _err(source, "[document.names]: ",
                       f"{name} = {value!r} is not one of {', '.join(DIMS)}")
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise _err(source, "[document.names]: ", f"{name} must be a dimension name or a number")
        names[name] = value
    sha256 = raw.get("sha256")
    if sha256 is not None and not (isinstance(sha256, str)
                                   and re.fullmatch(r"[0-9a-fA-F]{64}", sha256)):
        raise _err(source, "[document]: ", f"sha256 must be 64 hexadecimal digits, got {sha256!r}")
    return Document(str(raw.get("title", "")), str(raw.get("author", "")), config, conventions,
                    names, sha256.lower() if sha256 else None, architecture, workload)


def _as_int(value, what, where, source, minimum=0):
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise _err(source, where, f"{what} must be a whole number >= {minimum}, got {value!r}")
    return value


def _parse_claim(raw, index, document, source) -> Claim:
    if not isinstance(raw, dict):
        raise _err(source, "", f"claim #{index + 1} is not a table")
    cid = raw.get("id")
    if not isinstance(cid, str) or not cid:
        raise _err(source, f"claim #{index + 1}: ", "missing id")
    where = f"claim {cid!r}: "
    _check_keys(raw, _CLAIM_KEYS, source, where)
    quantity = raw.get("quantity")
    if not isinstance(quantity, str):
        raise _err(source, where, "missing quantity")
    if quantity not in QUANTITIES:
        raise _err(source, where, f"unknown quantity {quantity!r}{_suggest(quantity, QUANTITIES)}; "
                   "the vocabulary is in docs/audit.md")
    line = raw.get("line")
    if line is not None:
        _as_int(line, "line", where, source, 1)
    scope = raw.get("scope")
    if scope is not None and scope not in ("sequence", "token"):
        raise _err(source, where, f"scope must be sequence or token, got {scope!r}")
    blocks = raw.get("blocks")
    if blocks is not None:
        _as_int(blocks, "blocks", where, source, 1)
    position = raw.get("position")
    if position is not None:
        _as_int(position, "position", where, source, 1)
        if position > document.dim("n_positions"):
            raise _err(source, where, f"position {position} exceeds n_positions")
    expression = raw.get("expression")
    if expression is not None:
        if not isinstance(expression, str):
            raise _err(source, where, "expression must be a string")
        try:
            parse_expression(expression)
        except ExpressionError as e:
            raise _err(source, where, f"expression: {e}") from None
    stated = raw.get("stated")
    if quantity in LABEL_QUANTITIES:
        stated = _parse_label(quantity, stated, raw, where, source)
    elif stated is not None:
        stated = _parse_number(stated, where, source)
    shapes = {}
    for key in ("written_shape", "stated_shape"):
        if key in raw:
            shapes[key] = _parse_shape(raw[key], key, document, where, source)
    kind = _kind(quantity)
    if kind == "shape" and "stated_shape" not in shapes:
        raise _err(source, where, "a shape claim needs stated_shape")
    if kind != "shape" and shapes:
        raise _err(source, where, "written_shape/stated_shape belong to shape.* quantities")
    if kind in ("dim", "convention") and stated is None:
        raise _err(source, where, "needs stated")
    listed_as = raw.get("listed_as")
    if listed_as is not None and listed_as not in ("weight", "activation"):
        raise _err(source, where, f"listed_as must be weight or activation, got {listed_as!r}")
    labels, terms = raw.get("labels", []), raw.get("terms", [])
    for value, what in ((labels, "labels must be a list of strings"),
                        (terms, "terms must be a list of claim ids")):
        if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
            raise _err(source, where, what)
    if terms and (kind != "flops" or expression is None or stated is None):
        raise _err(source, where, "terms need a flops.* claim with expression and stated")
    per = raw.get("per")
    if per is not None and (quantity != "convention.flops_per_mac" or not isinstance(per, str)):
        raise _err(source, where, "per belongs to convention.flops_per_mac (a string)")
    of = raw.get("of")
    if of is not None and (not quantity.startswith("shape.") or not quantity.endswith("heads")
                           or not isinstance(of, str)):
        raise _err(source, where, "of belongs to a shape.*heads claim (the id of a shape claim)")
    return Claim(cid, line, quantity, scope, blocks, position, expression, stated,
                 shapes.get("written_shape"), shapes.get("stated_shape"), listed_as,
                 tuple(labels), tuple(terms), per, of)


def _parse_label(quantity, value, raw, where, source) -> str:
    """The stated label of an input.* or convention.unit claim (one of a fixed vocabulary)."""
    extra = sorted(set(raw) - {"id", "line", "quantity", "stated"})
    if extra:
        raise _err(source, where, f"{extra[0]} does not apply to {quantity} (it takes only "
                   "stated, a label)")
    choices = UNITS if quantity == "convention.unit" else INPUT_LABELS
    what = "unit" if quantity == "convention.unit" else "input label"
    if not isinstance(value, str):
        raise _err(source, where, f"needs stated, a{'' if what == 'unit' else 'n'} {what}: one "
                   f"of {', '.join(choices)}")
    if value not in choices:
        hint = _suggest(value, choices) or next(
            (f" (did you mean {c!r}? the case matters: FLOPs is a count, FLOPS a rate)"
             for c in choices if c.lower() == value.lower()), "")
        raise _err(source, where, f"unknown {what} {value!r}{hint}; one of {', '.join(choices)}")
    return value


def _parse_number(value, where, source) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise _err(source, where, f"stated must be an integer or a string of figures, got {value!r}")
    if isinstance(value, int):
        return Fraction(value)
    try:
        v = _value(value, {})
    except ExpressionError as e:
        raise _err(source, where, f"stated: {e}") from None
    if v is None:
        raise _err(source, where, f"stated {value!r} has an unknown")
    return v


def _parse_shape(value, key, document, where, source) -> tuple:
    if not isinstance(value, list) or not value:
        raise _err(source, where, f"{key} must be a non-empty list")
    dims = []
    for d in value:
        if isinstance(d, bool) or not isinstance(d, (int, str)):
            raise _err(source, where, f"{key}: {d!r} is not a dimension")
        if isinstance(d, int):
            dims.append(d)
            continue
        if document.names.get(d.strip()) == "batch":
            dims.append(BATCH)
            continue
        try:
            v = _value(d, _bindings(document))
        except ExpressionError as e:
            raise _err(source, where, f"{key}: {e}") from None
        if v is None or v.denominator != 1:
            raise _err(source, where, f"{key}: {d!r} is not a known whole dimension "
                       f"(name it in [document.names])")
        dims.append(int(v))
    return tuple(dims)


def _bindings(document: Document) -> dict:
    """Document names -> numbers (the batch name is left out: it is a shape's batch dim)."""
    return {name: document.dim(value) if isinstance(value, str) else value
            for name, value in document.names.items() if value != "batch"}


def _resolve_terms(claims: list[Claim], source: str) -> list[Claim]:
    """Check term references; term-only claims inherit scope/blocks/position from their sum."""
    def bad(cid: str, msg: str) -> FlopcalcError:
        return _err(source, f"claim {cid!r}: ", msg)

    by_id = {c.id: c for c in claims}
    parent: dict[str, Claim] = {}
    for c in claims:
        if c.of is not None and (c.of not in by_id or by_id[c.of].kind != "shape"):
            raise bad(c.id, f"of {c.of!r} is not a shape claim's id{_suggest(c.of, by_id)}")
        for t in c.terms:
            if t not in by_id:
                raise bad(c.id, f"term {t!r} is not a claim id{_suggest(t, by_id)}")
            if t == c.id:
                raise bad(c.id, "a claim cannot be its own term")
            if by_id[t].kind != "flops":
                raise bad(c.id, f"term {t!r} is not a FLOP claim")
            if by_id[t].stated is None:
                if t in parent:
                    raise bad(t, "is a term of two sums")
                parent[t] = c
        if c.terms and (n := len(additive_terms(c.expression))) != len(c.terms):
            raise bad(c.id, f"the expression has {n} terms but terms lists {len(c.terms)}")
    out = []
    for c in claims:
        if c.stated is None and c.kind == "flops" and c.id not in parent:
            raise bad(c.id, "needs stated (or to be a term of a sum)")
        if c.quantity == "unattributed" and c.id not in parent:
            raise bad(c.id, "unattributed is only for a term of a sum")
        p = parent.get(c.id)
        c = replace(c,
                    scope=c.scope or (p.scope if p and p.scope else "sequence"),
                    blocks=c.blocks or (p.blocks if p and p.blocks else 1),
                    position=c.position or (p.position if p else None))
        out.append(c)
    return out


# =========================================================================================
# flopcalc's counts and the catalogue of candidates a figure may equal.
# =========================================================================================

@dataclass(frozen=True)
class Variant:
    """The assumptions under which a count is taken."""

    scope: str          # sequence | token
    blocks: int
    fpm: int
    attention: str      # dense | causal
    one_head: bool = False
    ew: str = "doc"     # doc | elementwise (counted per element) | as_mac (2 per element)


@dataclass(frozen=True)
class Match:
    """A count of flopcalc's that a figure equals, and how far it is from the claim."""

    value: int
    quantity: str            # op or group name, or "a + b" for a subset
    parts: tuple
    variant: Variant
    cost: int
    quantity_cost: int = 0   # the part of ``cost`` for a quantity other than the claim's

    def as_dict(self) -> dict:
        """The match as the JSON's ``diagnosis`` holds it (report.py adds its description)."""
        v = self.variant
        return {"value": self.value, "quantity": self.quantity, "parts": list(self.parts),
                "scope": v.scope, "blocks": v.blocks, "flops_per_mac": v.fpm,
                "attention": v.attention, "one_head": v.one_head, "elementwise": v.ew,
                "cost": self.cost}


def counting_architecture(arch: Architecture) -> Architecture:
    """The architecture the claims are counted on: Q, K and V (and gate and up) as separate
    projections where the family builds them so, since claims name them one by one; the
    counts are the same either way (a fused projection is their sum)."""
    for changes in (dict(fused_qkv=False, fused_gate_up=False), dict(fused_gate_up=False), {}):
        try:
            candidate = arch.with_(**changes)
            build(candidate, candidate.dims())
            return candidate
        except ArchitectureError:
            continue
    return arch


class Model:
    """flopcalc's operations for a document's model, found by role, and counts under any
    variant. Block operations are those of the first block group (``one block``); a count
    for all n_layers blocks sums every block group times its repeat (Gemma-2's sliding and
    full layers)."""

    def __init__(self, document: Document):
        self.doc = document
        self.arch = counting_architecture(document.architecture)
        self.workload = document.workload
        self.conv = document.conventions
        self.n_layers = self.arch.n_layers
        self.n_heads = self.arch.n_heads
        self.seq_len = self.workload.seq_len
        self._groups: dict = {}
        self._values: dict = {}
        self._entries_of: dict = {}
        self._candidates: list | None = None
        self._conventions: dict = {}
        self._parts: dict = {}
        self._labels: dict = {}
        self._live: dict = {}

    # ----- operations ----------------------------------------------------------------------

    def groups(self, scope: str, position: int | None = None, symbolic_batch: bool = False):
        """The layer groups for a whole sequence or one decoded token at ``position``; with
        ``symbolic_batch`` their shapes have BATCH for the batch dimension."""
        key = (scope, position, symbolic_batch)
        if key not in self._groups:
            dims = self.arch.dims(self.workload.batch, self.seq_len)
            if symbolic_batch:
                dims = replace(dims, batch=BATCH)
            if scope == "token":
                dims = replace(dims, seq_len=1, kv_len=position or self.seq_len)
            groups = build(self.arch, dims)
            blocks = [g for g in groups if g.section == "block"]
            first = [op for g in groups if g.section != "block" or g is blocks[0] for op in g.ops]
            self._groups[key] = (groups, {op.name: op for op in first})
        return self._groups[key]

    def ops(self, scope: str, position: int | None = None,
            symbolic_batch: bool = False) -> dict[str, Op]:
        """Operations by name, in order: the embedding's, one block's (the first block
        group's), the head's."""
        return self.groups(scope, position, symbolic_batch)[1]

    def block_repeats(self, scope: str, position=None) -> list[tuple[int, dict]]:
        """(repeat, ops by name) of each block group."""
        return [(g.repeat, {op.name: op for op in g.ops})
                for g in self.groups(scope, position)[0] if g.section == "block"]

    def position(self, claim_position) -> int:
        return claim_position or self.seq_len

    def outside(self, name: str) -> bool:
        """Whether an op is outside the blocks (embedding, final norm, LM head): counted once."""
        return self.ops("sequence")[name].section != "block"

    def in_blocks(self, parts) -> bool:
        """Whether some of the parts are inside the transformer blocks (count once per block)."""
        return any(not self.outside(p) for p in parts)

    def per_head(self, name: str) -> bool:
        """Whether an op works head by head on the scores (so "for one head" applies)."""
        op = self.ops("sequence")[name]
        return op.on_scores or op.role in ("attention.scores", "attention.values")

    def _value(self, op: Op, v: Variant) -> int:
        if v.ew == "as_mac":  # every element of an elementwise op at fpm FLOPs
            value = elements(op.output, v.attention == "causal" and op.on_scores,
                             op.window) * v.fpm
        else:
            key = (v.fpm, v.attention, v.ew == "elementwise" or self.conv.elementwise)
            if key not in self._conventions:  # one per variant, not one per count
                self._conventions[key] = Conventions(flops_per_mac=key[0], attention=key[1],
                                                     elementwise=key[2])
            value = op_flops(op, self._conventions[key])
        return value // self.n_heads if v.one_head else value

    def op_value(self, name: str, v: Variant, position=None) -> int:
        """One op's FLOPs, once (not times blocks), under a variant."""
        key = (name, v.scope, v.fpm, v.attention, v.one_head, v.ew, position)
        if key not in self._values:
            self._values[key] = self._value(self.ops(v.scope, position)[name], v)
        return self._values[key]

    def all_blocks(self, name: str, v: Variant, position=None) -> int:
        """One block op's FLOPs over all n_layers blocks: each block group's times its repeat
        (a group without it, such as DeepSeek-V3's MoE blocks for a dense block's gate_proj,
        adds nothing)."""
        key = ("all", name, v.scope, v.fpm, v.attention, v.one_head, v.ew, position)
        if key not in self._values:
            self._values[key] = sum(repeat * self._value(ops[name], v)
                                    for repeat, ops in self.block_repeats(v.scope, position)
                                    if name in ops)
        return self._values[key]

    def count(self, parts, v: Variant, position=None) -> int:
        """FLOPs of a set of ops; block ops count v.blocks times."""
        total = 0
        for p in parts:
            if self.outside(p):
                total += self.op_value(p, v, position)
            elif v.blocks == self.n_layers:
                total += self.all_blocks(p, v, position)
            else:
                total += self.op_value(p, v, position) * v.blocks
        return total

    # ----- the vocabulary, found by role ---------------------------------------------------

    def _block_norms(self) -> list[str]:
        """The block's norms of the residual stream (not Qwen3's per-head q/k norms)."""
        return [op.name for op in self.ops("sequence").values() if op.role == "norm"
                and op.section == "block" and len(op.output) == 3]

    def parts_of(self, key: str) -> tuple:
        """The model's ops that a vocabulary key (an op or group of ``OP_KEYS`` or
        ``GROUP_KEYS``) names; an op name stands for itself."""
        if key not in self._parts:
            self._parts[key] = self._find_parts(key)
        return self._parts[key]

    def _find_parts(self, key: str) -> tuple:
        ops = [op for op in self.ops("sequence").values() if op.kind != "reshape"]
        by_role = lambda *roles: tuple(op.name for op in ops if op.role in roles)  # noqa: E731
        block = [op for op in ops if op.section == "block"]
        if key in OP_ROLES:
            return by_role(OP_ROLES[key])[:1]
        if key in ("ln_1", "ln_2"):
            norms = self._block_norms()
            if key == "ln_1" or not norms:
                return tuple(norms[:1])
            mlp = next((i for i, op in enumerate(block) if op.role.startswith("mlp.")), None)
            before = [op.name for op in block[:mlp] if op.name in norms]
            return tuple(before[-1:])
        if key in ("residual_1", "residual_2"):
            return by_role("residual")[int(key[-1]) - 1:int(key[-1])]
        if key == "ln_f":
            return tuple(op.name for op in ops if op.role == "norm" and op.section == "head")
        if key == "qkv_proj":
            return by_role(*PROJECTION_ROLES)
        if key == "attention":
            return tuple(op.name for op in block if op.role.startswith("attention.")
                         and op.role not in PROJECTION_ROLES + ("attention.rotary",))
        if key == "self_attention":
            return tuple(op.name for op in block if op.role.startswith("attention.")
                         or (op.role == "norm" and len(op.output) == 4))
        if key == "ffn":
            return tuple(op.name for op in block if op.role.startswith("mlp."))
        if key == "block":
            return tuple(op.name for op in block)
        if key == "forward":
            return tuple(op.name for op in ops)
        return (key,) if key in self.ops("sequence") else ()

    def label_ops(self, label: str) -> tuple:
        """The ops whose output an ``input.*`` label names."""
        if label not in self._labels:
            self._labels[label] = self._find_label(label)
        return self._labels[label]

    def _find_label(self, label: str) -> tuple:
        ops = self.ops("sequence")
        first = lambda key: (self.parts_of(key) or ("",))[0]  # noqa: E731
        if label == "embedding":
            return tuple(n for n, op in ops.items() if op.section == "embedding")
        if label == "ln_1_output":
            return (first("ln_1"),)
        if label == "heads_concat":
            return tuple([n for n, op in ops.items() if op.role == "attention.heads"][-1:])
        if label == "attention_output":
            return self.parts_of("out_proj")
        if label == "residual":
            return tuple(n for n, op in ops.items() if op.role == "residual")
        if label == "ln_2_output":
            return (first("ln_2"),)
        if label == "ffn_hidden":
            down = first("ffn_down")
            return (self.producer(down) if down else "",)
        if label == "ffn_output":
            return self.parts_of("ffn_down")
        return (first("ln_f"),)

    def producer(self, name: str) -> str:
        """The op whose output is ``name``'s input: in build order, the nearest op before it
        that produced its input's shape, passing over matmuls that read that same tensor
        beside it (K's projection follows Q's; both read ln_1's output)."""
        ops = list(self.ops("sequence").values())
        i = next(k for k, op in enumerate(ops) if op.name == name)
        x = ops[i].inputs[0]
        for op in reversed(ops[:i]):
            if op.output == x and not (op.kind == "matmul" and op.inputs[0] == x):
                return op.name
        raise KeyError(name)  # every op of INPUT_OPS reads an earlier op's output

    def shape_source(self, key: str, scope: str = "sequence", position=None):
        """(kind, shape, alternatives, the op that owns or makes it) of a shape quantity,
        or None when the model has no such tensor (no wpe with rotary positions)."""
        kind = SHAPE_KINDS[key]
        if kind == "weight":
            found = self._weight(key)
            if found is None:
                return None
            op, param = found
            # written as x·W, a weight is (d_in, d_out) whichever way the checkpoint stores it
            return kind, param.shape, (tuple(op.weight),) if op.weight and \
                tuple(op.weight) != tuple(param.shape) else (), op
        ops = self.ops(scope, position, symbolic_batch=True)
        names = self._activation_ops()
        name = names.get(key)
        if name is None:
            return None
        alternatives = ()
        if key in HEAD_SPLITS and names.get(key + ":t"):
            alternatives = (ops[names[key + ":t"]].output,)
        return kind, ops[name].output, alternatives, ops[name]

    def weight_param(self, key: str):
        """The weight Param of a weight quantity (its name and stored shape), or None."""
        found = self._weight(key)
        return found[1] if found else None

    def _weight(self, key: str):
        """(op, weight Param) of a weight quantity, from the counted build or the fused one."""
        archs = [self.arch] + ([self.arch.with_(fused_qkv=True)] if key == "w_qkv" else [])
        for arch in archs:
            try:
                groups = build(arch, arch.dims())
            except ArchitectureError:
                continue
            for op in (op for g in groups for op in g.ops):
                params = [p for p in op.params if p.name.endswith(".weight")]
                if key in ("wte", "wpe") and op.role == "embedding":
                    if len(params) > (key == "wpe"):
                        return op, params[key == "wpe"]
                elif op.role == WEIGHT_ROLES.get(key) and params:
                    return op, params[0]
        return None

    def _activation_ops(self) -> dict[str, str]:
        """Shape key -> the op whose output it is (``key:t``: the head split transposed)."""
        ops = self.ops("sequence")
        out = {}
        first = lambda key: (self.parts_of(key) or (None,))[0]  # noqa: E731
        out["embedding_input"] = first("embed")
        for key, op_key in (("q", "q_proj"), ("k", "k_proj"), ("v", "v_proj"),
                            ("scores", "scores"), ("attn_values", "attn_values"),
                            ("ffn_hidden", "ffn_up"), ("logits", "lm_head")):
            out[key] = first(op_key)
        heads = [n for n, op in ops.items() if op.role == "attention.heads"]

        def reader(source):  # the head reshape that reads ``source``'s output
            if source is None:
                return None
            return next((n for n in heads if ops[n].inputs[0] == ops[source].output), None)

        for key, source in (("heads", out["q"]), ("q_heads", out["q"]), ("k_heads", out["k"]),
                            ("v_heads", out["v"])):
            split = reader(source)
            out[key], out[key + ":t"] = split, reader(split)
        out["attn_output"] = heads[-1] if heads else None
        return {k: v for k, v in out.items() if v is not None}

    def variant(self, scope: str = "sequence", blocks: int = 1) -> Variant:
        """The document's own conventions, in a scope and for a number of blocks."""
        return Variant(scope, blocks, self.conv.flops_per_mac, self.conv.attention)

    def reference(self, claim: Claim) -> Variant:
        return self.variant(claim.scope, claim.blocks)

    def expected(self, quantity: str, scope: str, blocks: int, position=None) -> int:
        """flopcalc's count of a flops.* quantity under the document's conventions."""
        if quantity == "unattributed":
            return 0
        key = quantity.split(".", 1)[1]
        v = self.variant(scope, self.n_layers if key == "forward" else blocks)
        return self.count(self.parts_of(key), v, position)

    def live(self, parts) -> tuple:
        """The parts that count anything under the document's conventions."""
        parts = tuple(parts)
        if parts not in self._live:
            v = self.variant()
            self._live[parts] = tuple(p for p in parts if self.op_value(p, v))
        return self._live[parts]

    def matmuls(self, parts) -> tuple:
        """The matmuls among the parts (what "k of the n" subsets are made of)."""
        ops = self.ops("sequence")
        return tuple(p for p in parts if ops[p].kind == "matmul")

    def _entries(self, position=None) -> list[tuple]:
        """Every candidate count, once per model: (parts, variant without blocks, one
        block's value, all blocks' value, other value, single elementwise op) for each op,
        group and subset of a group (``candidates``), under every variant."""
        if position not in self._entries_of:
            self._entries_of[position] = [entry for parts in self.candidates()
                                          for entry in self.entries_for(parts, position)]
        return self._entries_of[position]

    def candidates(self) -> list[tuple]:
        """The sets of parts a count may be of, in order: each op, each group, each subset
        of a group's matmuls (``_entries``)."""
        if self._candidates is None:
            order = [n for n, op in self.ops("sequence").items() if op.kind != "reshape"]
            rank = {name: k for k, name in enumerate(order)}
            quantities = dict.fromkeys((name,) for name in order)  # an ordered set
            for g in GROUP_KEYS:
                live = self.live(self.parts_of(g))
                if live:
                    quantities[live] = None
                mm = self.matmuls(live)
                if g != "forward":
                    for k in range(1, len(mm)):
                        for sub in combinations(mm, k):
                            quantities[tuple(sorted(sub, key=rank.__getitem__))] = None
            self._candidates = list(quantities)
        return self._candidates

    def entries_for(self, parts: tuple, position=None) -> list[tuple]:
        """``_entries`` of one set of parts (a figure reads only those it can name)."""
        ops = self.ops("sequence")
        single_ew = len(parts) == 1 and ops[parts[0]].kind == "elementwise"
        per_head = all(self.per_head(p) for p in parts)
        if single_ew:  # FLOPs per multiply-add do not apply; "as_mac" is 2 per element
            kinds = [(self.conv.flops_per_mac, "doc"), (2, "as_mac")] + (
                [] if self.conv.elementwise else [(self.conv.flops_per_mac, "elementwise")])
        else:
            kinds = [(2, "doc"), (1, "doc")]
        inside = [p for p in parts if not self.outside(p)]
        outside = [p for p in parts if self.outside(p)]
        entries = []
        for scope in ("sequence", "token"):
            for fpm, ew in kinds:
                for attention in ("dense", "causal"):
                    for one_head in (False, True) if per_head else (False,):
                        v = Variant(scope, 1, fpm, attention, one_head, ew)
                        block = sum(self.op_value(p, v, position) for p in inside)
                        every = sum(self.all_blocks(p, v, position) for p in inside)
                        other = sum(self.op_value(p, v, position) for p in outside)
                        if block or other:
                            entries.append((parts, v, block, every, other, single_ew))
        return entries

    def _quantity_cost(self, parts, own, claim_key) -> tuple[int, str] | None:
        """How far a set of parts is from the claim's own quantity (``own``, the parts of
        ``claim_key``), and its label."""
        if own and parts == own:
            return 0, claim_key
        if own and len(parts) < len(own) and set(parts) < set(self.matmuls(own)):
            return 1, "subset:" + claim_key
        if len(parts) == 1:
            return 2, parts[0]
        for g in GROUP_KEYS:
            if self.live(self.parts_of(g)) == parts:
                return 2, g
        for g in ("qkv_proj", "attention", "ffn"):
            if set(parts) < set(self.matmuls(self.live(self.parts_of(g)))):
                return 3, "subset:" + g
        return None

    def find(self, value, claim_key: str | None, ref: Variant, position=None, restrict=None,
             max_cost: int = MAX_COST) -> list[Match]:
        """flopcalc's counts equal to ``value``, cheapest first, described (``claim_key``
        None: no claimed quantity, every op and group alike)."""
        if not isinstance(value, (int, Fraction)) or value != int(value) or value <= 0:
            return []
        value = int(value)
        own = ()
        if restrict is None and claim_key is not None:
            own = self.live(self.parts_of(claim_key)) or self.parts_of(claim_key)
        blocks_choices = sorted({1, self.n_layers, ref.blocks})
        found = []
        for parts, v, block, every, other, single_ew in self._entries(position):
            if restrict is not None and not (len(parts) == 1 and parts[0] in restrict):
                continue
            for b in blocks_choices if block else (1,):
                if (every if b == self.n_layers else block * b) + other != value:
                    continue
                qc = self._quantity_cost(parts, own, claim_key)
                if qc is None:
                    continue
                qcost, label = qc
                cost = (qcost + (v.scope != ref.scope) + (bool(block) and b != ref.blocks)
                        + (v.fpm != ref.fpm and not single_ew)
                        + (v.attention != ref.attention) + v.one_head + (v.ew != "doc"))
                if cost <= max_cost:
                    found.append(Match(value, label, parts, replace(v, blocks=b), cost, qcost))
        # the cheapest first; among equals, the nearer quantity
        found.sort(key=lambda m: (m.cost, m.quantity_cost))
        seen, out = set(), []
        for m in found:
            # candidates alike but for parts of equal counts (scores vs attn_values) are one
            alike = (m.cost, m.variant, m.quantity.split(":")[0],
                     tuple(sorted(self.op_value(p, m.variant, position) for p in m.parts)))
            d = self.description_key(m, ref, position)
            if d not in seen and alike not in seen:
                seen.update((d, alike))
                out.append(m)
        return out

    def description_key(self, m: Match, ref: Variant, position=None) -> tuple:
        """What a match's description (``report.Words.describe``) is made of: two matches
        with the same key read the same, and the audit names only the first."""
        v, label = m.variant, m.quantity
        if label.startswith("subset:"):
            group = label.split(":", 1)[1]
            members = self.matmuls(self.live(self.parts_of(group)))
            vals = {self.op_value(p, v, position) for p in m.parts}
            equal = len(vals) == 1 and len({self.op_value(p, v, position)
                                            for p in members}) == 1
            what = ("subset", group, len(m.parts), len(members),
                    self.count(m.parts[:1], v, position) if equal else m.parts)
        elif label in GROUP_KEYS:
            what = ("group", label)
        else:
            parts = self.parts_of(label)
            what = ("op", parts[0]) if parts else ("label", label)
        ops = self.ops("sequence")
        return (what, v.one_head, v.scope, v.blocks if self.in_blocks(m.parts) else None, v.ew,
                tuple(sorted({ELEMENTWISE_COST[ops[p].cost] for p in m.parts if ops[p].cost}))
                if v.ew == "elementwise" else v.fpm if v.ew == "as_mac" else
                v.fpm if v.fpm != ref.fpm and self.matmuls(m.parts) else None,
                v.attention if v.attention != ref.attention else None)

# =========================================================================================
# Evaluating claims: every verdict is a finding, a record (its check, a reason code from
# ``Code``, and its facts); the English of the reasons and headlines is written from the
# findings in report.py.
# =========================================================================================

class Code(StrEnum):
    """The reason codes of the claims audit's findings (docs/audit.md lists them with their
    facts). Each finding is ``{"check", "code", **facts}``; report.py writes its English."""

    EXPRESSION_HAS_UNKNOWN = "expression-has-unknown"      # unknowns, solution
    ARITHMETIC_MISMATCH = "arithmetic-mismatch"            # computed, stated
    DIMENSION_DIFFERS = "dimension-differs"                # dimension, right, stated, stated_is
    FLOPS_PER_MAC_DIFFERS = "flops-per-mac-differs"        # right, stated
    MULTIPLY_ADD_IS_NOT_A_DOT_PRODUCT = "multiply-add-is-not-a-dot-product"  # per, d_head
    RATE_FOR_COUNT = "rate-for-count"                      # right, stated
    WRONG_INPUT = "wrong-input"                            # right, source, stated, path, ...
    WRITTEN_SHAPE_DIFFERS = "written-shape-differs"        # computed, stated
    STATED_SHAPE_RIGHT = "stated-shape-right"              # stated
    SHAPE_DIFFERS = "shape-differs"                        # right
    NEVER_SPLIT_INTO_HEADS = "never-split-into-heads"      # right, tensor, claim, q_shape
    WEIGHT_WITH_BATCH_DIMENSION = "weight-with-batch-dimension"  # right, fused
    HEAD_SPLIT_SWAPPED = "head-split-swapped"              # right, heads, d_head, transposed
    SIZES_IN_WRONG_ORDER = "sizes-in-wrong-order"          # right, side
    DECODE_SHAPE_FOR_SEQUENCE = "decode-shape-for-sequence"  # right, shape, side, seq_len
    SHAPE_OF_ANOTHER_TENSOR = "shape-of-another-tensor"    # right, matches, shape, side
    SHAPE_IS = "shape-is"                                  # right
    ACTIVATION_LISTED_AS_WEIGHT = "activation-listed-as-weight"  # right, weights
    WEIGHT_LISTED_AS_ACTIVATION = "weight-listed-as-activation"  # right
    COUNT_DIFFERS = "count-differs"                        # right, breakdown
    STATED_VALUE_RIGHT = "stated-value-right"              # stated
    EXPRESSION_RIGHT = "expression-right"                  # value
    EQUALS_ANOTHER_QUANTITY = "equals-another-quantity"    # value, matches, also
    EXPRESSION_EQUALS_ANOTHER_QUANTITY = "expression-equals-another-quantity"
    LM_HEAD_OUTSIDE_SCOPE = "lm-head-outside-scope"        # value
    LABELS_DO_NOT_MATCH_FACTORS = "labels-do-not-match-factors"  # labels, factors
    FACTOR_LABELLED_WRONGLY = "factor-labelled-wrongly"    # factor(s), label, ...
    UNATTRIBUTED_TERM = "unattributed-term"                # value, sum, elementwise, dimension
    ELEMENTWISE_NOT_A_DOT_PRODUCT = "elementwise-not-a-dot-product"  # op, counted, per_block
    TOTAL_TAKES_EXPRESSION_VALUE = "total-takes-expression-value"  # term, value, instead
    TOTAL_WITHOUT_TERM = "total-without-term"              # term, value, total
    TERM_DIFFERS_FROM_ITS_CLAIM = "term-differs-from-its-claim"  # term, value, stated
    TERM_EQUALS_ANOTHER_QUANTITY = "term-equals-another-quantity"  # term, value, matches
    TERM_WRONG_ITSELF = "term-wrong-itself"                # term, value
    TERM_LABEL = "term-label"                              # term, findings
    COUNTED_TWICE = "counted-twice"                        # term, inside, ops, inner
    TERM_WITHOUT_COUNTERPART = "term-without-counterpart"  # term, text
    MIXES_SCOPES = "mixes-scopes"                          # token, sequence
    ONE_BLOCK_FOR_MANY_BLOCKS = "one-block-for-many-blocks"  # blocks, factors
    REST_WITHOUT_TERM = "rest-without-term"                # term, value, rest, matches, also


@dataclass
class TermResult:
    """One summand of a sum claim, as used in that sum."""

    id: str
    text: str
    value: Fraction
    expected: int
    quantity: str
    match: Match | None
    standalone: bool     # the term is a claim of its own (with its own stated value)


@dataclass
class ClaimResult:
    """A claim checked: its values, the checks' verdicts and its ``findings`` (records;
    ``reasons`` and ``headline`` are their English, written by report.py)."""

    claim: Claim
    # the claim as written: its expression's text, else its stated figure, shape or unit
    # (report.as_written_text writes it, with a term's solved unknowns)
    as_written: object
    written: object          # Fraction | shape tuple | None: the written expression's value
    stated: object           # Fraction | shape tuple
    expected: object         # int | shape tuple (flopcalc's value in the claim's scope)
    verdict: str = "ok"
    checks: dict = field(default_factory=dict)   # arithmetic / model / labels -> ok | wrong
    matches: list = field(default_factory=list)  # what the stated figure equals
    unknowns: dict = field(default_factory=dict)
    terms: list = field(default_factory=list)    # TermResult, for sums
    term_of: str | None = None
    # the right value, for the headline: ("count", value, Variant, block_op) flopcalc's count,
    # ("stated", value) the stated value is right, ("expression", value) the expression's
    right: tuple | None = None
    findings: list = field(default_factory=list)  # each a record: check, code, facts
    model: object = field(default=None, repr=False, compare=False)  # for the words

    @property
    def id(self) -> str:
        return self.claim.id

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"

    @property
    def reasons(self) -> list[str]:
        """Every reason in words (report.claim_reasons)."""
        from .report import claim_reasons

        return claim_reasons(self)

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)

    @property
    def headline(self) -> str:
        """One sentence for a wrong claim: its main problem and the right value; empty for
        a claim that holds (report.claim_headline)."""
        from .report import claim_headline

        return claim_headline(self)

    def record(self, check: str, code: Code, **facts) -> dict:
        """A finding as data: the check it belongs to, its reason code, and its facts (the
        right value, the quantity the figure matches, the term concerned)."""
        finding = {"check": check, "code": code, **facts}
        self.findings.append(finding)
        return finding

    def fail(self, check: str, code: Code, **facts) -> dict:
        """A finding that makes its check, and the claim, wrong."""
        self.checks[check] = "wrong"
        self.verdict = "wrong"
        return self.record(check, code, **facts)


def finding_json(finding: dict, describe=None) -> dict:
    """A finding as the JSON writes it: numbers and shapes as ``json_value``, a Match as its
    dict (with ``describe(match)``, its description, when given), a Variant as its fields."""
    def value(x):
        if isinstance(x, Match):
            return {**x.as_dict(), **({"description": describe(x)} if describe else {})}
        if isinstance(x, Variant):
            return {"scope": x.scope, "blocks": x.blocks, "flops_per_mac": x.fpm,
                    "attention": x.attention, "one_head": x.one_head, "elementwise": x.ew}
        if isinstance(x, (Fraction, tuple)) and not (isinstance(x, tuple) and x and
                                                     isinstance(x[0], tuple)):
            return json_value(x)
        if isinstance(x, (list, tuple)):
            return [value(v) for v in x]
        if isinstance(x, dict):
            return {k: value(v) for k, v in x.items()}
        return x
    return {k: value(v) for k, v in finding.items() if v is not None or k == "right"}


def json_value(x):
    """A value as the audit's JSON writes it: a whole number as an int, a fraction as "p/q",
    a shape as a list with "batch_size" for the batch dimension."""
    if isinstance(x, Fraction):
        return x.numerator if x.denominator == 1 else f"{x.numerator}/{x.denominator}"
    if isinstance(x, tuple):
        return ["batch_size" if isinstance(d, Batch) else json_value(d) for d in x]
    return x


def as_cheap(matches: list[Match]) -> Match | None:
    """The second match when it is as cheap as the first (the audit names both)."""
    if len(matches) < 2:
        return None
    first, second = matches[0], matches[1]
    return second if (second.cost, second.quantity_cost) == (first.cost,
                                                              first.quantity_cost) else None


class Evaluator:
    def __init__(self, claims_file: ClaimsFile):
        self.cf = claims_file
        self.doc = claims_file.document
        self.model = Model(self.doc)
        self.by_id = claims_file.by_id()
        self.bindings = _bindings(self.doc)
        self.parent = {t: c for c in claims_file.claims for t in c.terms
                       if self.by_id[t].stated is None}
        self.results: dict[str, ClaimResult] = {}

    def run(self) -> list[ClaimResult]:
        # sums first, so that their terms know the solved unknowns
        order = sorted(self.cf.claims, key=lambda c: (not c.terms, c.id in self.parent))
        for c in order:
            self.result(c)
        return [self.results[c.id] for c in self.cf.claims]

    def new(self, c: Claim, as_written, written, stated, expected, **more) -> ClaimResult:
        return ClaimResult(c, as_written, written, stated, expected, model=self.model, **more)

    def result(self, c: Claim) -> ClaimResult:
        if c.id not in self.results:
            if c.id in self.parent:
                self.result(self.parent[c.id])  # fills the term's result
            else:
                kind = c.kind
                r = {"flops": self.flops, "shape": self.shape, "dim": self.dim,
                     "convention": self.unit if c.quantity == "convention.unit"
                     else self.convention, "input": self.input}[kind](c)
                self.results[c.id] = r
        return self.results[c.id]

    # ----- dims and conventions ------------------------------------------------------------

    def _written(self, c: Claim, r: ClaimResult):
        if c.expression is None:
            return
        expr = parse_expression(c.expression)
        unknown = expr.unknowns(self.bindings)
        if unknown:
            x = solve(expr, self.bindings, c.stated) if c.stated is not None else None
            sol = {unknown[0]: x} if x is not None else {}
            r.unknowns = sol
            r.written = evaluate(expr, {**self.bindings, **sol}) if sol else None
            r.checks["arithmetic"] = "ok" if sol else "unknown"
            r.record("arithmetic", Code.EXPRESSION_HAS_UNKNOWN, unknowns=list(unknown),
                     stated=c.stated, solution=dict(sol))
            return
        r.written = evaluate(expr, self.bindings)
        if c.stated is not None and r.written != c.stated:
            r.fail("arithmetic", Code.ARITHMETIC_MISMATCH, computed=r.written, stated=c.stated)
        else:
            r.checks["arithmetic"] = "ok"

    def dim(self, c: Claim) -> ClaimResult:
        expected = self.doc.dim(c.key)
        r = self.new(c, c.expression or c.stated, None, c.stated, expected)
        self._written(c, r)
        if c.stated != expected:
            r.fail("model", Code.DIMENSION_DIFFERS, right=expected, dimension=c.key,
                   stated=c.stated, stated_is=self._dim_of(c.stated))
        else:
            r.checks["model"] = "ok"
        return r

    def convention(self, c: Claim) -> ClaimResult:
        fpm = self.doc.conventions.flops_per_mac
        r = self.new(c, c.expression or c.stated, None, c.stated, fpm)
        self._written(c, r)
        if c.stated != fpm:
            r.fail("model", Code.FLOPS_PER_MAC_DIFFERS, right=fpm, stated=c.stated)
        else:
            r.checks["model"] = "ok"
        if c.per is not None and c.per.lower() not in PER_MAC:
            r.fail("labels", Code.MULTIPLY_ADD_IS_NOT_A_DOT_PRODUCT, right=c.stated,
                   per=c.per, d_head=self.doc.dim("d_head"))
        else:
            r.checks["labels"] = "ok"
        return r

    def unit(self, c: Claim) -> ClaimResult:
        """convention.unit: FLOPs (a count) or FLOPS / FLOP/s (a rate per second)."""
        r = self.new(c, c.stated, None, c.stated, "FLOPs")
        if UNITS[c.stated]:
            r.checks["labels"] = "ok"
        else:
            r.fail("labels", Code.RATE_FOR_COUNT, right="FLOPs", stated=c.stated)
        return r

    # ----- inputs ----------------------------------------------------------------------------

    def producer(self, name: str) -> str:
        return self.model.producer(name)

    def input(self, c: Claim) -> ClaimResult:
        """input.<op>: what the document says an op reads, against the op it reads from."""
        m = self.model
        parts = m.parts_of(c.key)
        if not parts:
            raise FlopcalcError(f"claims file {self.cf.source}: claim {c.id!r}: this model has "
                                f"no {c.key} ({self.doc.architecture.family})")
        first = parts[0]
        source = self.producer(first)
        expected = next((k for k in INPUT_LABELS if source in m.label_ops(k)), source)
        r = self.new(c, c.stated, None, c.stated, expected)
        stated_ops = m.label_ops(c.stated)
        if source in stated_ops:
            r.checks["model"] = "ok"
            return r
        order = [op.name for op in m.ops("sequence").values()]
        before = [o for o in stated_ops if order.index(o) < order.index(first)]
        path = None
        if before:
            start = order.index(before[-1])
            path = [o for o in order[start + 1:order.index(source) + 1]
                    if m.ops("sequence")[o].kind != "reshape"]
        r.fail("model", Code.WRONG_INPUT, right=expected, source=source, op=c.key,
               stated=c.stated, parts=list(parts), before=before[-1] if before else None,
               path=path, residual_stream=bool(before) and m.outside(before[-1])
               and not m.outside(first))
        return r

    # ----- shapes ----------------------------------------------------------------------------

    def shape_of(self, key: str, scope: str, position=None):
        """(kind, shape, alternatives) of a shape quantity in a scope."""
        found = self.model.shape_source(key, scope, position)
        if found is None:
            raise FlopcalcError(f"claims file {self.cf.source}: shape.{key}: this model "
                                f"({self.doc.architecture.family}) has no such tensor")
        return found[:3]

    def shape(self, c: Claim) -> ClaimResult:
        kind, expected, alternatives = self.shape_of(c.key, c.scope, c.position)
        stated = c.stated_shape
        written = c.written_shape
        r = self.new(c, written or stated, written, stated, expected)
        if written is not None:
            if written != stated:
                r.fail("arithmetic", Code.WRITTEN_SHAPE_DIFFERS, computed=written, stated=stated)
                if written != expected and written not in alternatives:
                    self._shape_diagnosis(c, r, written, "written", kind, expected,
                                          alternatives)
            else:
                r.checks["arithmetic"] = "ok"
        if stated == expected or stated in alternatives:
            r.checks["model"] = "ok"
            if r.checks.get("arithmetic") == "wrong":
                r.record("model", Code.STATED_SHAPE_RIGHT, stated=stated)
                r.right = ("stated", stated)
        else:
            r.fail("model", Code.SHAPE_DIFFERS, right=expected)
            self._split_of(c, r, expected)
            self._shape_diagnosis(c, r, stated, "stated", kind, expected, alternatives)
        if c.listed_as and c.listed_as != kind:
            owner = (self.model.shape_source(c.key, c.scope)[3]
                     if kind == "activation" else None)
            weights = [(p.name, p.shape) for p in (owner.params if owner else ())
                       if p.name.endswith(".weight")]
            r.fail("labels", Code(f"{kind}-listed-as-{c.listed_as}"), right=kind,
                   listed_as=c.listed_as, key=c.key, shape=expected,
                   owner=owner.name if owner else None,
                   weights=weights, shape_right=r.checks.get("model") == "ok")
        else:
            r.checks["labels"] = "ok"
        return r

    def _fused_checkpoint(self):
        """(the family, the tensor, its shape) when the family's checkpoints store W_q, W_k
        and W_v as one tensor (GPT-2's attn.c_attn), else None."""
        from ..architectures.presets import family_fields

        arch = self.doc.architecture
        family = Architecture(**family_fields(arch.family))
        if not family.fused_qkv:
            return None
        weight = self.model._weight("w_qkv")
        if weight is None:
            return None
        return arch.family, weight[1].name.removesuffix(".weight"), weight[1].shape

    def _split_of(self, c: Claim, r: ClaimResult, expected) -> None:
        """A head split claimed of a tensor that is never split (the claim's ``of`` names the
        shape claim of that tensor); only Q, K and V are split into heads."""
        parent = self.by_id.get(c.of) if c.of else None
        if c.key != "heads" or parent is None or parent.kind != "shape" \
                or parent.key in ("q", "k", "v") or parent.key in HEAD_SPLITS:
            return
        q = self.model.shape_source("q", c.scope, c.position)[1]
        r.record("model", Code.NEVER_SPLIT_INTO_HEADS, right=expected, tensor=parent.key,
                 claim=parent.id, q_shape=q)

    def _shape_diagnosis(self, c, r, shape, side, kind, expected, alternatives):
        """What a wrong shape is (``side``: the stated shape or the written form)."""
        if kind == "weight" and shape == (BATCH,) + tuple(expected):
            fused = self._fused_checkpoint() if c.key in ("wq", "wk", "wv") else None
            r.record("model", Code.WEIGHT_WITH_BATCH_DIMENSION, right=expected, key=c.key,
                     fused=fused)
            return
        if kind == "activation" and len(shape) == len(expected) and shape != expected \
                and sorted(map(_sort_key, shape)) == sorted(map(_sort_key, expected)):
            if c.key in HEAD_SPLITS:
                r.record("model", Code.HEAD_SPLIT_SWAPPED, right=expected, shape=shape,
                         heads=expected[-2],  # the query heads, or the KV heads of K and V
                         d_head=self.doc.dim("d_head"), transposed=alternatives[0])
            else:
                r.record("model", Code.SIZES_IN_WRONG_ORDER, right=expected, key=c.key,
                         side=side)
            return
        if c.scope != "token":
            _, tok, tok_alt = self.shape_of(c.key, "token", c.position)
            if shape == tok or shape in tok_alt:
                r.record("model", Code.DECODE_SHAPE_FOR_SEQUENCE, right=expected, key=c.key,
                         shape=shape, side=side, seq_len=self.doc.dim("seq_len"))
                return
        for key in SHAPE_KINDS:
            if key == c.key or key in HEAD_SPLITS:
                continue
            found = self.model.shape_source(key, c.scope, c.position)
            if found is None:
                continue
            k2, s2, alt2, _ = found
            if shape == s2 or shape in alt2:
                r.record("model", Code.SHAPE_OF_ANOTHER_TENSOR, right=expected, key=c.key,
                         matches=key, kind=k2, shape=shape, side=side)
                return
        r.record("model", Code.SHAPE_IS, right=expected, key=c.key)

    # ----- FLOP claims -----------------------------------------------------------------------

    def flops(self, c: Claim) -> ClaimResult:
        m = self.model
        if not m.parts_of(c.key):
            fused = " (it fuses Q, K and V: claim flops.qkv_proj)" if c.key in (
                "q_proj", "k_proj", "v_proj") and m.parts_of("qkv_proj") else ""
            raise FlopcalcError(f"claims file {self.cf.source}: claim {c.id!r}: this model "
                                f"({self.doc.architecture.family}) has no {c.key}{fused}")
        expected = m.expected(c.quantity, c.scope, c.blocks, c.position)
        r = self.new(c, c.expression or c.stated, None, c.stated, expected)
        self._written(c, r)
        ref = m.reference(c)
        block_op = m.in_blocks(m.parts_of(c.key)) and c.key != "forward"
        terms = self._terms(c, r) if c.terms else []
        if c.stated == expected:
            r.checks["model"] = "ok"
            if r.checks.get("arithmetic") == "wrong":
                r.record("model", Code.STATED_VALUE_RIGHT, stated=c.stated)
                r.right = ("stated", c.stated)
        else:
            r.fail("model", Code.COUNT_DIFFERS, right=expected, variant=ref,
                   position=c.position, block_op=block_op, breakdown=self._breakdown(c),
                   blocks=c.blocks)
            r.right = ("count", expected, ref, block_op)
            if r.checks.get("arithmetic") == "wrong" and r.written == expected:
                r.record("model", Code.EXPRESSION_RIGHT, value=r.written)
                r.right = ("expression", r.written)
            r.matches = m.find(c.stated, c.key, ref, c.position)
            if r.matches:
                r.record("model", Code.EQUALS_ANOTHER_QUANTITY, value=c.stated,
                         matches=r.matches[0], also=as_cheap(r.matches), variant=ref,
                         position=c.position)
            if r.written is not None and r.written not in (c.stated, expected):
                wm = m.find(r.written, c.key, ref, c.position)
                if wm:
                    r.record("model", Code.EXPRESSION_EQUALS_ANOTHER_QUANTITY, value=r.written,
                             matches=wm[0], also=as_cheap(wm), variant=ref, position=c.position)
        if c.quantity == "flops.block" and c.stated != expected and not self.doc.conventions.lm_head:
            head = m.count(("ln_f", "lm_head"), m.variant(c.scope), c.position)
            r.record("model", Code.LM_HEAD_OUTSIDE_SCOPE, value=head)
        if terms:
            self._sum_diagnosis(c, r, terms, ref)
        if not c.terms:
            self._labels(c, r)
        return r

    def _breakdown(self, c: Claim) -> list | None:
        """A group's parts and their counts for one block (a group quantity only)."""
        m = self.model
        if c.key not in GROUP_KEYS or c.key == "forward":
            return None
        v = replace(m.reference(c), blocks=1)
        parts = [(p, m.count((p,), v, c.position)) for p in m.parts_of(c.key)]
        return [[p, x] for p, x in parts if x]

    def _labels(self, c: Claim, r: ClaimResult, expression=None) -> None:
        """Check what each written factor is labelled as (labels = [...], one per factor)."""
        expression = expression or c.expression
        if not c.labels or expression is None:
            return
        expr = parse_expression(expression)
        if len(additive_terms(expr)) != 1:
            return
        fs = factors(expr)
        if len(fs) == 1:
            return  # a lone figure's label is the unit of the whole term ("128 FLOPs")
        if len(fs) != len(c.labels):
            r.fail("labels", Code.LABELS_DO_NOT_MATCH_FACTORS, labels=len(c.labels),
                   factors=len(fs))
            return
        fpm = self.doc.conventions.flops_per_mac
        vals = [(_value(f, self.bindings), label.strip().lower(), f.text)
                for (_, f), label in zip(fs, c.labels)]
        problems = []
        flop_factors = [(v, t) for v, lab, t in vals if lab in ("flops", "flop")]
        for v, lab, t in vals:
            if lab in LABEL_DIMS and v is not None:
                dim = LABEL_DIMS[lab]
                want = self.doc.dim(dim)
                if c.scope == "token" and dim == "seq_len":
                    want = 1
                if v != want:
                    problems.append(dict(factor=t, label=lab, dimension=dim, right=want))
        if flop_factors:
            prod = math.prod(v for v, _ in flop_factors if v is not None)
            if prod != fpm:
                extra = prod / fpm
                problems.append(dict(label="flops", factors=[t for _, t in flop_factors],
                                     flops_per_mac=fpm, extra=extra,
                                     multiplicity=self._multiplicity(c, extra)))
        if problems:
            for p in problems:
                r.fail("labels", Code.FACTOR_LABELLED_WRONGLY, **p)
        else:
            r.checks.setdefault("labels", "ok")

    def _multiplicity(self, c: Claim, extra) -> dict:
        """What a stray factor of a product is: the count of equal parts (``matmuls``: the
        claim's quantity, its parts, each one's multiply-adds), of blocks, of heads, or
        nothing flopcalc counts."""
        m = self.model
        v = replace(m.reference(c), blocks=1)
        parts = [p for p in m.parts_of(c.key) if m.count((p,), v, c.position)]
        values = {m.count((p,), v, c.position) for p in parts}
        first = m.ops(c.scope, c.position)[parts[0]] if parts else None
        if len(parts) == extra > 1 and len(values) == 1 and first.kind == "matmul":
            a, b = first.inputs[0], first.inputs[1]
            dims = [d for d in a[:-2] if d != 1] + [a[-2], a[-1], b[-1]]
            return {"of": "matmuls", "quantity": c.key, "parts": parts, "dims": dims}
        if extra == self.doc.dim("n_layers"):
            return {"of": "blocks"}
        if extra == self.doc.dim("n_heads"):
            return {"of": "heads"}
        return {"of": None}

    def _terms(self, c: Claim, r: ClaimResult) -> list[TermResult]:
        m = self.model
        sol = r.unknowns
        bindings = {**self.bindings, **sol}
        ref = m.reference(c)
        out = []
        for (sign, n), tid in zip(additive_terms(c.expression), c.terms):
            t = self.by_id[tid]
            value = _value(n, bindings)
            value = sign * value if value is not None else None
            expected = m.expected(t.quantity, c.scope, c.blocks, c.position)
            restrict = None
            if t.quantity == "unattributed":
                restrict = m.parts_of(c.key)
            match = None
            if value is not None and value != expected:
                found = m.find(value, t.key if t.quantity != "unattributed" else c.key, ref,
                               c.position, restrict)
                match = found[0] if found else None
            out.append(TermResult(tid, n.text, value, expected, t.quantity, match,
                                  t.stated is not None))
            if t.stated is None:  # a term-only claim: its own row
                own = {k: v for k, v in sol.items() if k in n.symbols}
                tr = self.new(t, n.text, value, None, expected, unknowns=own, term_of=c.id)
                self._term_row(t, tr, c, value, expected, match, n.text)
                self.results[t.id] = tr
        r.terms = out
        return out

    def _term_row(self, t, tr, parent, value, expected, match, text):
        m = self.model
        ref = m.reference(parent)
        block_op = m.in_blocks(m.parts_of(t.key))
        if value == expected:
            tr.checks["model"] = "ok"
        elif t.quantity == "unattributed":
            tr.fail("model", Code.UNATTRIBUTED_TERM, right=0, value=value,
                    sum=parent.quantity, elementwise=self._elementwise_extra(parent),
                    dimension=self._dim_of(value))
        else:
            own = m.parts_of(t.key)
            facts = dict(right=expected, variant=ref, position=parent.position,
                         block_op=block_op)
            tr.right = ("count", expected, ref, block_op)
            if expected == 0 and len(own) == 1 and m.ops("sequence")[own[0]].kind == "elementwise":
                ew = m.count(own, replace(ref, ew="elementwise"), parent.position)
                per_block = m.count(own, replace(ref, ew="elementwise", blocks=1),
                                    parent.position)
                tr.fail("model", Code.ELEMENTWISE_NOT_A_DOT_PRODUCT, **facts, op=t.key,
                        counted=ew, per_block=per_block)
            else:
                tr.fail("model", Code.COUNT_DIFFERS, **facts)
            if match:
                tr.matches = [match]
                tr.record("model", Code.EQUALS_ANOTHER_QUANTITY, value=value, matches=match,
                          also=None, variant=ref, position=parent.position, term=True)
        self._labels(t, tr, text)

    def _elementwise_extra(self, parent: Claim) -> int:
        if self.doc.conventions.elementwise:
            return 0
        m = self.model
        ref = m.reference(parent)
        parts = m.parts_of(parent.key)
        return (m.count(parts, replace(ref, ew="elementwise"), parent.position)
                - m.count(parts, ref, parent.position))

    def _dim_of(self, value) -> str | None:
        """The dimension of the document's model that a value is, if any."""
        return next((d for d in DIMS if self.doc.dim(d) == value), None)

    def _sum_diagnosis(self, c: Claim, r: ClaimResult, terms: list[TermResult], ref) -> None:
        m = self.model
        total = sum(t.value for t in terms if t.value is not None)
        # the addition: does the stated total come from another value of one term?
        if r.checks.get("arithmetic") == "wrong" and all(t.value is not None for t in terms):
            for t in terms:
                other = self.by_id[t.id]
                if t.standalone and other.expression:
                    ov = _value(other.expression, self.bindings)
                    if ov is not None and ov != t.value and total - t.value + ov == c.stated:
                        r.record("terms", Code.TOTAL_TAKES_EXPRESSION_VALUE, term=t.id,
                                 value=ov, instead=t.value)
                        break
                if c.stated == total - t.value:
                    r.record("terms", Code.TOTAL_WITHOUT_TERM, term=t.id, value=t.value,
                             total=total)
                    break
        # a standalone term whose figure differs from its own line's stated value
        for t in terms:
            other = self.by_id[t.id]
            if t.standalone and t.value != other.stated:
                r.fail("terms", Code.TERM_DIFFERS_FROM_ITS_CLAIM, term=t.id, value=t.value,
                       stated=other.stated)
        # terms that are wrong in the sum's scope
        if any(t.value != t.expected for t in terms):
            r.checks["terms"] = "wrong"
        for t in terms:
            if not t.standalone or t.value == t.expected:
                continue
            if t.match:
                r.record("terms", Code.TERM_EQUALS_ANOTHER_QUANTITY, term=t.id, value=t.value,
                         matches=t.match, variant=ref, position=c.position)
            elif self.result(self.by_id[t.id]).verdict == "wrong":
                r.record("terms", Code.TERM_WRONG_ITSELF, term=t.id, value=t.value)
        # term-only claims with mislabelled factors
        for t in terms:
            res = self.results.get(t.id)
            if res is not None and not t.standalone and res.checks.get("labels") == "wrong":
                r.fail("terms", Code.TERM_LABEL, term=t.id, findings=list(res.findings))
        # counted twice: a term whose operations are already inside another term
        def ops_of(claim_id: str) -> set:
            return set(m.live(m.parts_of(self.by_id[claim_id].key)))

        order = list(m.ops("sequence"))
        for t in terms:
            tp = ops_of(t.id)
            for u in terms:
                if u is t or not tp:
                    continue
                up = ops_of(u.id)
                if tp < up or (tp == up and terms.index(u) < terms.index(t)):
                    inner = [s for s in self.result(self.by_id[u.id]).terms
                             if s.value == t.value and ops_of(s.id) == tp]
                    r.fail("terms", Code.COUNTED_TWICE, term=t.id, value=t.value, inside=u.id,
                           inside_value=u.value, ops=sorted(tp, key=order.index),
                           inner=[inner[0].id, inner[0].value] if inner else None)
                    if not t.standalone and t.id in self.results:
                        self.results[t.id].fail("terms", Code.COUNTED_TWICE, inside=u.id)
                    break
        # a term with no counterpart; mixed scopes; one block for many
        scopes: dict[str, list[str]] = {}
        block_counts = []
        for t in terms:
            counted = t.match.variant if t.match else (ref if t.value == t.expected else None)
            if counted is not None:
                scopes.setdefault(counted.scope, []).append(t.id)
                block_counts.append(counted.blocks)
            if self.by_id[t.id].quantity == "unattributed" and t.value:
                r.fail("terms", Code.TERM_WITHOUT_COUNTERPART, term=t.id, text=t.text)
        if len(scopes) > 1:
            r.fail("terms", Code.MIXES_SCOPES, token=scopes["token"], sequence=scopes["sequence"])
        if c.blocks != 1 and block_counts and all(b == 1 for b in block_counts):
            r.fail("terms", Code.ONE_BLOCK_FOR_MANY_BLOCKS, blocks=c.blocks,
                   **self._blocks_factor(c, terms))
        # what the stated total is without one of its terms
        if c.stated != r.expected and not r.matches:
            for t in terms:
                if t.value is None:
                    continue
                rest = c.stated - t.value
                found = m.find(rest, c.key, ref, c.position)
                if found:
                    r.record("terms", Code.REST_WITHOUT_TERM, term=t.id, value=t.value,
                             rest=rest, matches=found[0], also=as_cheap(found), variant=ref,
                             position=c.position)
                    break

    def _blocks_factor(self, c: Claim, terms: list[TermResult]) -> dict:
        """Whether a factor of the sum's expression counts its ``blocks``, from the figures:
        none equals ``blocks`` (``factor_of_blocks`` False), or each one that does sits in a
        term that is a per-head count of one block for all heads, where ``blocks`` = n_heads
        makes it the head count (``heads_in``: those terms)."""
        n, m = c.blocks, self.model
        found = []   # (term, factor text) for each written figure equal to the blocks
        for (_, expr), t in zip(additive_terms(c.expression), terms):
            for _, f in factors(expr):
                if not f.symbols and _value(f, {}) == n:
                    found.append((t, f.text))
        if not found:
            return {"factor_of_blocks": False, "heads_in": None}
        heads = self.doc.dim("n_heads") == n and all(
            t.match is not None and t.match.variant.blocks == 1 and not t.match.variant.one_head
            and all(m.per_head(p) for p in t.match.parts) for t, _ in found)
        return {"factor_of_blocks": True,
                "heads_in": list(dict.fromkeys(t.id for t, _ in found)) if heads else None}


def _sort_key(d):
    return (1, 0) if isinstance(d, Batch) else (0, d)


def evaluate_claims(claims_file: ClaimsFile) -> list[ClaimResult]:
    """Check every claim of a claims file against flopcalc (in the file's order)."""
    try:
        return Evaluator(claims_file).run()
    except ExpressionError as e:
        raise FlopcalcError(f"claims file {claims_file.source}: {e}") from None
