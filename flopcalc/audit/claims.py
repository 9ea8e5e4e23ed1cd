"""The claims audit: a document's numeric and shape claims, checked against flopcalc's model.

A claims file (TOML, format in docs/audit.md) transcribes every figure of a hand-written
analysis: what it claims to be (``quantity``, ``scope``, ``blocks``), the expression as
written and the value as stated. For each claim this module

(a) evaluates the written expression exactly (with ``arithmetic``, the parser of the text's
    equations) and compares it with the stated value;
(b) compares the stated value with flopcalc's own count of the quantity, derived from
    ``model.build_ops`` through ``analysis.op_flops`` under the document's conventions;
(c) when they disagree, searches a catalogue of counts computed by flopcalc (every
    operation and group x per token / per sequence x one block / n_layers blocks x 1 or 2
    FLOPs per multiply-add x dense / causal x all heads / one head, and the subsets of a
    group's parts) for what the stated number actually equals, and for sums checks the
    addition and each term (counted twice, mixed scopes, one block for many, stray terms).

Every reason is generated here from the figures; no sentence of the document is copied.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from fractions import Fraction
from importlib import resources
from itertools import combinations
from pathlib import Path

from .. import files
from ..analysis import op_flops
from ..config import Config, Conventions, FlopcalcError
from ..model import ELEMENTWISE_COST, Op, build_ops, elements
from .arithmetic import (Expression, ExpressionError, additive_terms, evaluate, factors,
                         parse_expression, solve)

CLAIMS_LIMIT = 1 * files.MiB  # a claims file is a few KB; the shipped one under 10 KB
MAX_COST = 4  # how far (in changed assumptions) a diagnosis may stray from the claim


# =========================================================================================
# Vocabulary: the quantities a claim may name.
# =========================================================================================

OP_NAMES = {
    "embed": "the embedding lookup", "embed_add": "the position-embedding add",
    "ln_1": "the first LayerNorm", "q_proj": "the Q projection", "k_proj": "the K projection",
    "v_proj": "the V projection", "scores": "the attention scores Q·Kᵀ",
    "scale": "the score scaling", "causal_mask": "the causal mask", "softmax": "the softmax",
    "attn_values": "softmax·V", "out_proj": "the output projection W_o",
    "residual_1": "the first residual add", "ln_2": "the second LayerNorm",
    "ffn_up": "the FFN's first matmul (d_model → d_ff)", "gelu": "GELU",
    "ffn_down": "the FFN's second matmul (d_ff → d_model)",
    "residual_2": "the second residual add", "ln_f": "the final LayerNorm",
    "lm_head": "the LM head",
}
_BLOCK_ATTN = ("scores", "scale", "causal_mask", "softmax", "attn_values", "out_proj")
GROUPS = {  # name -> (member ops, description, noun for "k of the n <noun>")
    "qkv_proj": (("q_proj", "k_proj", "v_proj"), "the Q, K and V projections",
                 "Q, K, V projections"),
    "attention": (_BLOCK_ATTN, "attention (scores, softmax·V, W_o)", "attention matmuls"),
    "self_attention": (("q_proj", "k_proj", "v_proj") + _BLOCK_ATTN,
                       "self-attention with its Q, K, V projections", "self-attention matmuls"),
    "ffn": (("ffn_up", "gelu", "ffn_down"), "the FFN (both matmuls)", "FFN matmuls"),
    "block": (("ln_1", "q_proj", "k_proj", "v_proj") + _BLOCK_ATTN
              + ("residual_1", "ln_2", "ffn_up", "gelu", "ffn_down", "residual_2"),
              "a transformer block", "block matmuls"),
    "forward": (("embed", "embed_add", "ln_1", "q_proj", "k_proj", "v_proj") + _BLOCK_ATTN
                + ("residual_1", "ln_2", "ffn_up", "gelu", "ffn_down", "residual_2", "ln_f",
                   "lm_head"), "the whole forward pass", "operations"),
}
PER_HEAD = {"scores", "scale", "causal_mask", "softmax", "attn_values"}
NOT_BLOCK = {"embed", "embed_add", "ln_f", "lm_head"}
FLOP_QUANTITIES = {f"flops.{k}" for k in OP_NAMES} | {f"flops.{k}" for k in GROUPS}

# shape quantities: key -> (kind, source, description)
#   weights: source = parameter name; activations: source = op name (its output)
SHAPES = {
    "wte": ("weight", "wte.weight", "the token embedding matrix wte"),
    "wpe": ("weight", "wpe.weight", "the position embedding matrix wpe"),
    "w_qkv": ("weight", "attn.c_attn.weight", "the fused W_qkv (attn.c_attn)"),
    "wq": ("weight", "attn.q_proj.weight", "W_q"),
    "wk": ("weight", "attn.k_proj.weight", "W_k"),
    "wv": ("weight", "attn.v_proj.weight", "W_v"),
    "wo": ("weight", "attn.c_proj.weight", "W_o (attn.c_proj)"),
    "w_ffn_up": ("weight", "mlp.c_fc.weight", "the FFN's first weight W_1 (mlp.c_fc)"),
    "w_ffn_down": ("weight", "mlp.c_proj.weight", "the FFN's second weight W_2 (mlp.c_proj)"),
    "embedding_input": ("activation", "embed",
                        "the embedded input x = wte[tokens] + wpe[positions]"),
    "q": ("activation", "q_proj", "the queries Q"),
    "k": ("activation", "k_proj", "the keys K"),
    "v": ("activation", "v_proj", "the values V"),
    "heads": ("activation", "split_heads", "the head split"),
    "q_heads": ("activation", "split_heads", "Q split into heads"),
    "k_heads": ("activation", "split_heads", "K split into heads"),
    "v_heads": ("activation", "split_heads", "V split into heads"),
    "scores": ("activation", "scores", "the attention scores"),
    "attn_values": ("activation", "attn_values", "softmax·V per head"),
    "attn_output": ("activation", "merge_heads", "the merged heads"),
    "ffn_hidden": ("activation", "ffn_up", "the FFN's hidden activation"),
    "logits": ("activation", "lm_head", "the logits"),
}
HEAD_SPLITS = {"heads", "q_heads", "k_heads", "v_heads"}
DIMS = ("d_model", "n_heads", "d_head", "n_layers", "d_ff", "seq_len", "vocab", "batch",
        "n_positions")
# input.<op>: what a weighted matmul reads. The ops whose input a claim may name (qkv_proj: the
# three projections, which read one tensor), and the labels a claim may give it: label ->
# (the ops whose output the label names, description). flopcalc's answer is derived from the
# ops list (``Evaluator.producer``), then named by the label of that op.
INPUT_OPS = ("qkv_proj", "q_proj", "k_proj", "v_proj", "out_proj", "ffn_up", "ffn_down",
             "lm_head")
INPUT_LABELS = {
    "embedding": (("embed", "embed_add"), "the embeddings wte[tokens] + wpe[positions]"),
    "ln_1_output": (("ln_1",), "ln_1(x), the first LayerNorm of the residual stream x"),
    "heads_concat": (("merge_heads",), "the concatenated heads (softmax·V of every head)"),
    "attention_output": (("out_proj",), "the attention output (after W_o)"),
    "residual": (("residual_1", "residual_2"), "the residual stream after a residual add"),
    "ln_2_output": (("ln_2",), "ln_2(x + attention output), the second LayerNorm of the "
                               "residual stream after the attention's residual add"),
    "ffn_hidden": (("gelu",), "the FFN's hidden activation GELU(x·W_1)"),
    "ffn_output": (("ffn_down",), "the FFN output (after W_2)"),
    "ln_f_output": (("ln_f",), "ln_f(x), the final LayerNorm of the last block's output"),
}
# convention.unit: what the document calls its counts; unit -> whether it is a count
UNITS = {"FLOPs": True, "FLOP": True, "FLOPS": False, "FLOP/s": False}
LABEL_QUANTITIES = {f"input.{k}" for k in INPUT_OPS} | {"convention.unit"}
QUANTITIES = (sorted(FLOP_QUANTITIES) + [f"shape.{k}" for k in SHAPES]
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


def shape_text(shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


def fmt(x) -> str:
    """A number with thousands separators (fractions as p/q)."""
    if isinstance(x, Fraction):
        if x.denominator != 1:
            return f"{x.numerator:,}/{x.denominator:,}"
        x = x.numerator
    return f"{x:,}"


# =========================================================================================
# The claims file.
# =========================================================================================

@dataclass(frozen=True)
class Document:
    title: str
    author: str
    config: Config
    conventions: Conventions
    names: dict             # document name -> config field name (str) or number
    sha256: str | None = None  # the fingerprint of the document's text (document_sha256)


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
_CONFIG_KEYS = {"d_model", "n_heads", "n_layers", "d_ff", "vocab", "n_positions", "seq_len",
                "batch", "qkv", "bias"}
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
        if load_claims(candidate).document.sha256 == digest:
            return str(candidate)
    return None


def similar_claims(text: str, candidates=None) -> list[str]:
    """The shipped claims files (or ``candidates``) whose document the text resembles without
    being it: its ``[document] title`` appears in the text (case and spacing aside)."""
    out = []
    for candidate in shipped_claims() if candidates is None else candidates:
        words = load_claims(candidate).document.title.split()
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
    qkv = cfg_raw.pop("qkv", "fused")
    if qkv not in ("fused", "separate"):
        raise _err(source, "[document.config]: ", f"qkv must be fused or separate, got {qkv!r}")
    try:
        config = Config(**cfg_raw, fused_qkv=qkv == "fused")
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
                    names, sha256.lower() if sha256 else None)


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
        if position > document.config.n_positions:
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
    return {name: getattr(document.config, value) if isinstance(value, str) else value
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
    description: str
    quantity_cost: int = 0   # the part of ``cost`` for a quantity other than the claim's

    def as_dict(self) -> dict:
        v = self.variant
        return {"value": self.value, "quantity": self.quantity, "parts": list(self.parts),
                "scope": v.scope, "blocks": v.blocks, "flops_per_mac": v.fpm,
                "attention": v.attention, "one_head": v.one_head, "elementwise": v.ew,
                "cost": self.cost, "description": self.description}


class Model:
    """flopcalc's operations for a document's config, and counts under any variant."""

    def __init__(self, document: Document):
        self.doc = document
        self.config = document.config
        self.conv = document.conventions
        self._ops: dict = {}
        self._values: dict = {}
        self._entries_of: dict = {}

    def ops(self, scope: str, position: int | None = None,
            symbolic_batch: bool = False) -> dict[str, Op]:
        """Operations by name (Q, K, V separate), for a whole sequence or one decoded token;
        with ``symbolic_batch`` their shapes have BATCH for the batch dimension."""
        key = (scope, position, symbolic_batch)
        if key not in self._ops:
            dims = self.config.dims()
            if symbolic_batch:
                dims = replace(dims, batch=BATCH)
            if scope == "token":
                dims = replace(dims, seq_len=1, kv_len=position or self.config.seq_len)
            self._ops[key] = {op.name: op
                              for op in build_ops(dims, fused_qkv=False, bias=self.config.bias)}
        return self._ops[key]

    def position(self, claim_position) -> int:
        return claim_position or self.config.seq_len

    def op_value(self, name: str, v: Variant, position=None) -> int:
        """One op's FLOPs, once (not times blocks), under a variant."""
        key = (name, v.scope, v.fpm, v.attention, v.one_head, v.ew, position)
        if key in self._values:
            return self._values[key]
        op = self.ops(v.scope, position)[name]
        if v.ew == "as_mac":  # every element of an elementwise op at fpm FLOPs
            value = elements(op.output, v.attention == "causal" and op.on_scores) * v.fpm
        else:
            value = op_flops(op, Conventions(
                flops_per_mac=v.fpm, attention=v.attention,
                elementwise=v.ew == "elementwise" or self.conv.elementwise))
        if v.one_head:
            value //= self.config.n_heads
        self._values[key] = value
        return value

    def count(self, parts, v: Variant, position=None) -> int:
        """FLOPs of a set of ops; block ops count v.blocks times."""
        return sum(self.op_value(p, v, position) * (1 if p in NOT_BLOCK else v.blocks)
                   for p in parts)

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
        v = self.variant(scope, self.config.n_layers if key == "forward" else blocks)
        return self.count(parts_of(key), v, position)

    def live(self, parts) -> tuple:
        """The parts that count anything under the document's conventions."""
        return tuple(p for p in parts if self.op_value(p, self.variant()))

    def matmuls(self, parts) -> tuple:
        """The matmuls among the parts (what "k of the n" subsets are made of)."""
        ops = self.ops("sequence")
        return tuple(p for p in parts if ops[p].kind == "matmul")

    def _entries(self, position=None) -> list[tuple]:
        """Every candidate count, once per model: (parts, variant without blocks, block
        value, other value) for each op, group and subset of a group, under every variant."""
        if position in self._entries_of:
            return self._entries_of[position]
        order = list(OP_NAMES)
        quantities = dict.fromkeys((name,) for name in OP_NAMES)  # an ordered set
        for g in GROUPS:
            live = self.live(parts_of(g))
            if live:
                quantities[live] = None
            mm = self.matmuls(live)
            if g != "forward":
                for k in range(1, len(mm)):
                    for sub in combinations(mm, k):
                        quantities[tuple(sorted(sub, key=order.index))] = None
        entries = []
        for parts in quantities:
            single_ew = len(parts) == 1 and self.ops("sequence")[parts[0]].kind == "elementwise"
            per_head = all(p in PER_HEAD for p in parts)
            if single_ew:  # FLOPs per multiply-add do not apply; "as_mac" is 2 per element
                kinds = [(self.conv.flops_per_mac, "doc"), (2, "as_mac")] + (
                    [] if self.conv.elementwise else [(self.conv.flops_per_mac, "elementwise")])
            else:
                kinds = [(2, "doc"), (1, "doc")]
            for scope in ("sequence", "token"):
                for fpm, ew in kinds:
                    for attention in ("dense", "causal"):
                        for one_head in (False, True) if per_head else (False,):
                            v = Variant(scope, 1, fpm, attention, one_head, ew)
                            block = sum(self.op_value(p, v, position) for p in parts
                                        if p not in NOT_BLOCK)
                            other = sum(self.op_value(p, v, position) for p in parts
                                        if p in NOT_BLOCK)
                            if block or other:
                                entries.append((parts, v, block, other, single_ew))
        self._entries_of[position] = entries
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
        for g in GROUPS:
            if self.live(parts_of(g)) == parts:
                return 2, g
        for g in ("qkv_proj", "attention", "ffn"):
            if set(parts) < set(self.matmuls(self.live(parts_of(g)))):
                return 3, "subset:" + g
        return None

    def find(self, value, claim_key: str, ref: Variant, position=None, restrict=None,
             max_cost: int = MAX_COST) -> list[Match]:
        """flopcalc's counts equal to ``value``, cheapest first, described."""
        if not isinstance(value, (int, Fraction)) or value != int(value) or value <= 0:
            return []
        value = int(value)
        own = (self.live(parts_of(claim_key)) or parts_of(claim_key)) if restrict is None else ()
        blocks_choices = sorted({1, self.config.n_layers, ref.blocks})
        found = []
        for parts, v, block, other, single_ew in self._entries(position):
            if restrict is not None and not (len(parts) == 1 and parts[0] in restrict):
                continue
            for b in blocks_choices if block else (1,):
                if block * b + other != value:
                    continue
                qc = self._quantity_cost(parts, own, claim_key)
                if qc is None:
                    continue
                qcost, label = qc
                cost = (qcost + (v.scope != ref.scope) + (bool(block) and b != ref.blocks)
                        + (v.fpm != ref.fpm and not single_ew)
                        + (v.attention != ref.attention) + v.one_head + (v.ew != "doc"))
                if cost <= max_cost:
                    found.append(Match(value, label, parts, replace(v, blocks=b), cost, "", qcost))
        # the cheapest first; among equals, the nearer quantity
        found.sort(key=lambda m: (m.cost, m.quantity_cost))
        seen, out = set(), []
        for m in found:
            # candidates alike but for parts of equal counts (scores vs attn_values) are one
            alike = (m.cost, m.variant, m.quantity.split(":")[0],
                     tuple(sorted(self.op_value(p, m.variant, position) for p in m.parts)))
            d = self.describe(m, ref, position)
            if d not in seen and alike not in seen:
                seen.update((d, alike))
                out.append(replace(m, description=d))
        return out

    # ----- descriptions ------------------------------------------------------------------

    def scope_text(self, scope: str, position=None) -> str:
        if scope == "token":
            t = self.position(position)
            return f"per token (one new token at position {t}, attending to {t} keys via a KV cache)"
        return f"per sequence of {self.config.seq_len} tokens"

    def blocks_text(self, blocks: int) -> str:
        return "one block" if blocks == 1 else f"{blocks} blocks"

    def ref_text(self, ref: Variant, position=None, block_op=True) -> str:
        text = self.scope_text(ref.scope, position)
        return text + (f", {self.blocks_text(ref.blocks)}" if block_op else "")

    def describe(self, m: Match, ref: Variant, position=None) -> str:
        v = m.variant
        label = m.quantity
        if label.startswith("subset:"):
            group = label.split(":", 1)[1]
            members = self.matmuls(self.live(parts_of(group)))
            vals = {self.op_value(p, v, position) for p in m.parts}
            if len(vals) == 1 and len({self.op_value(p, v, position) for p in members}) == 1:
                each = vals.pop() * (v.blocks if in_blocks(m.parts) else 1)
                what = (f"{len(m.parts)} of the {len(members)} {GROUPS[group][2]} "
                        f"({len(m.parts)} × {fmt(each)})")
            else:
                what = (" + ".join(m.parts)
                        + f" ({len(m.parts)} of the {len(members)} {GROUPS[group][2]})")
        elif label in GROUPS:
            what = GROUPS[label][1]
        else:
            what = OP_NAMES[label]
        bits = []
        if v.one_head:
            bits.append("for one head")
        bits.append(self.scope_text(v.scope, position))
        if in_blocks(m.parts):
            bits.append(f"for {self.blocks_text(v.blocks)}")
        if v.ew == "elementwise":
            costs = sorted({ELEMENTWISE_COST[self.ops('sequence')[p].cost] for p in m.parts
                            if self.ops('sequence')[p].cost})
            bits.append(f"counted elementwise ({'/'.join(map(str, costs))} per element)")
        elif v.ew == "as_mac":
            bits.append(f"at {v.fpm} FLOPs per element, as if each were a multiply-add")
        elif v.fpm != ref.fpm and self.matmuls(m.parts):
            bits.append("at 1 FLOP per multiply-add (MACs)" if v.fpm == 1
                        else "at 2 FLOPs per multiply-add")
        if v.attention != ref.attention:
            bits.append("counting only the causal L(L+1)/2 scores" if v.attention == "causal"
                        else "counting the dense L×L scores")
        return f"{what}, " + ", ".join(bits)

    def brief(self, m: Match, ref: Variant) -> str:
        """``describe`` for a headline: the quantity, and only the assumptions that differ
        from the claim's ("2 of the 3 Q, K, V projections"; "softmax·V per token, for one
        block")."""
        v = m.variant
        label = m.quantity
        if label.startswith("subset:"):
            group = label.split(":", 1)[1]
            members = self.matmuls(self.live(parts_of(group)))
            what = f"{len(m.parts)} of the {len(members)} {GROUPS[group][2]}"
        else:
            what = GROUPS[label][1] if label in GROUPS else OP_NAMES[label]
        bits = []
        if v.one_head:
            bits.append("for one head")
        if v.scope != ref.scope:
            bits.append("per token" if v.scope == "token" else "per sequence")
        if in_blocks(m.parts) and v.blocks != ref.blocks:
            bits.append(f"for {self.blocks_text(v.blocks)}")
        if v.ew == "elementwise":
            bits.append("counted elementwise")
        elif v.ew == "as_mac":
            bits.append(f"at {v.fpm} FLOPs per element")
        elif v.fpm != ref.fpm and self.matmuls(m.parts):
            bits.append("in multiply-adds" if v.fpm == 1 else "at 2 FLOPs per multiply-add")
        if v.attention != ref.attention:
            bits.append(f"{v.attention} attention")
        return " ".join([what, ", ".join(bits)]).strip()

    def right_text(self, value, ref: Variant, block_op: bool = True) -> str:
        """'flopcalc: 452,984,832 (per sequence, one block)': the right value, for a headline."""
        where = "per token" if ref.scope == "token" else "per sequence"
        return (f"flopcalc: {fmt(value)} ({where}"
                + (f", {self.blocks_text(ref.blocks)})" if block_op else ")"))


def _short_name(key: str) -> str:
    """A shape quantity's name without its formula ("the embedded input x")."""
    return SHAPES[key][2].split(" = ")[0]


def in_blocks(parts) -> bool:
    """Whether some of the parts are inside the transformer blocks (count once per block)."""
    return any(p not in NOT_BLOCK for p in parts)


def parts_of(key: str) -> tuple:
    if key in GROUPS:
        return GROUPS[key][0]
    return (key,) if key in OP_NAMES else ()


# =========================================================================================
# Evaluating claims.
# =========================================================================================

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

    def as_dict(self) -> dict:
        return {"id": self.id, "written": self.text, "value": json_value(self.value),
                "expected": self.expected, "quantity": self.quantity,
                "diagnosis": self.match.as_dict() if self.match else None}


@dataclass
class ClaimResult:
    claim: Claim
    as_written: str
    written: object          # Fraction | shape tuple | None: the written expression's value
    stated: object           # Fraction | shape tuple
    expected: object         # int | shape tuple (flopcalc's value in the claim's scope)
    verdict: str = "ok"
    reasons: list = field(default_factory=list)
    checks: dict = field(default_factory=dict)   # arithmetic / model / labels -> ok | wrong
    matches: list = field(default_factory=list)  # what the stated figure equals
    unknowns: dict = field(default_factory=dict)
    terms: list = field(default_factory=list)    # TermResult, for sums
    term_of: str | None = None
    # for the headline: (rank, short reason, whether it states the right value itself), and
    # the clause that states the right value ("flopcalc: 452,984,832 (per sequence, 1 block)")
    shorts: list = field(default_factory=list, repr=False)
    right: str = ""

    @property
    def id(self) -> str:
        return self.claim.id

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)

    @property
    def headline(self) -> str:
        """One sentence for a wrong claim: its main problem (the first of the lowest rank)
        and the right value; the full account is ``reasons``. Empty for a claim that holds."""
        if self.verdict == "ok":
            return ""
        if not self.shorts:
            return self.reasons[0] if self.reasons else ""
        _, text, complete = min(self.shorts, key=lambda s: s[0])
        return text + (f"; {self.right}" if self.right and not complete else "")

    def fail(self, check: str, reason: str | None = None, short: str | None = None,
             rank: int = 3, complete: bool = False) -> None:
        self.checks[check] = "wrong"
        self.verdict = "wrong"
        if reason:
            self.reasons.append(reason)
        if short:
            self.note(short, rank, complete)

    def note(self, short: str, rank: int = 3, complete: bool = False) -> None:
        """A short reason for the headline: rank 1 is what is most wrong about the claim (its
        scope, its kind), 2 a term counted twice or mixed, 3 what the figure is instead, 4
        the arithmetic, 5 a label; ``complete`` when it states the right value itself."""
        self.shorts.append((rank, short, complete))

    def as_dict(self) -> dict:
        c = self.claim
        return {
            "id": c.id, "line": c.line, "quantity": c.quantity, "kind": c.kind,
            "scope": c.scope if c.kind == "flops" else None,
            "blocks": c.blocks if c.kind == "flops" else None,
            "as_written": self.as_written, "written": json_value(self.written),
            "stated": json_value(self.stated), "flopcalc": json_value(self.expected),
            "verdict": self.verdict, "headline": self.headline, "reason": self.reason,
            "reasons": list(self.reasons),
            "checks": dict(self.checks),
            "unknowns": {k: json_value(v) for k, v in self.unknowns.items()},
            "diagnosis": [m.as_dict() for m in self.matches],
            "terms": [t.as_dict() for t in self.terms], "term_of": self.term_of,
        }


def json_value(x):
    """A value as the audit's JSON writes it: a whole number as an int, a fraction as "p/q",
    a shape as a list with "batch_size" for the batch dimension."""
    if isinstance(x, Fraction):
        return x.numerator if x.denominator == 1 else f"{x.numerator}/{x.denominator}"
    if isinstance(x, tuple):
        return ["batch_size" if isinstance(d, Batch) else json_value(d) for d in x]
    return x


def _assignments(values: dict) -> str:
    return ", ".join(f"{k} = {fmt(v)}" for k, v in values.items())


def _diff_text(stated, value) -> str:
    d = stated - value
    return f"{fmt(abs(d))} {'less' if d < 0 else 'more'}"


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
            r.reasons.append(f"the expression has the unknown {', '.join(unknown)}"
                             + (f"; the stated {fmt(c.stated)} holds for {_assignments(sol)}"
                                if sol else ""))
            return
        r.written = evaluate(expr, self.bindings)
        if c.stated is not None and r.written != c.stated:
            r.fail("arithmetic", f"the expression evaluates to {fmt(r.written)}; the stated "
                   f"{fmt(c.stated)} is {_diff_text(c.stated, r.written)}",
                   f"the expression gives {fmt(r.written)}, not the stated {fmt(c.stated)}", 4)
        else:
            r.checks["arithmetic"] = "ok"

    def dim(self, c: Claim) -> ClaimResult:
        expected = getattr(self.doc.config, c.key)
        r = ClaimResult(c, c.expression or fmt(c.stated), None, c.stated, expected)
        self._written(c, r)
        if c.stated != expected:
            r.fail("model", f"{c.key} is {fmt(expected)} in the document's own config"
                   + self._dim_hint(c.stated),
                   f"{c.key} is {fmt(expected)} in the document's config, not {fmt(c.stated)}",
                   1, complete=True)
        else:
            r.checks["model"] = "ok"
        return r

    def convention(self, c: Claim) -> ClaimResult:
        fpm = self.doc.conventions.flops_per_mac
        r = ClaimResult(c, c.expression or fmt(c.stated), None, c.stated, fpm)
        self._written(c, r)
        if c.stated != fpm:
            r.fail("model", f"the document's counts use {fpm} FLOPs per multiply-add",
                   f"the document counts {fpm} FLOPs per multiply-add, not {fmt(c.stated)}", 1,
                   complete=True)
        else:
            r.checks["model"] = "ok"
        if c.per is not None and c.per.lower() not in PER_MAC:
            k = self.doc.config.d_head
            r.fail("labels", f"{fmt(c.stated)} FLOPs (one multiplication and one addition) "
                   f"is the cost of one multiply-add, not of a {c.per}: a dot product of "
                   f"length {k} (d_head, one query·key) is {k} multiplications and {k - 1} "
                   f"additions, {2 * k - 1} ≈ {c.stated} × {k} FLOPs; the count "
                   f"{fmt(c.stated)} per multiply-add is right",
                   f"{fmt(c.stated)} FLOPs is one multiply-add, not one {c.per} (one of length "
                   f"{k} is {2 * k - 1} FLOPs)", 1, complete=True)
        else:
            r.checks["labels"] = "ok"
        return r

    def unit(self, c: Claim) -> ClaimResult:
        """convention.unit: FLOPs (a count) or FLOPS / FLOP/s (a rate per second)."""
        r = ClaimResult(c, c.stated, None, c.stated, "FLOPs")
        if UNITS[c.stated]:
            r.checks["labels"] = "ok"
        else:
            r.fail("labels", f"{c.stated} (floating-point operations per second) is a rate, "
                   "a hardware's throughput; the document's figures are counts of operations, "
                   "FLOPs (lower-case s, a plural), with no time in them",
                   f"{c.stated} is a rate per second; the figures are counts, FLOPs", 1,
                   complete=True)
        return r

    # ----- inputs ----------------------------------------------------------------------------

    def producer(self, name: str) -> str:
        """The op whose output is ``name``'s input: in ``model.build_ops`` order, the nearest op
        before it that produced its input's shape, passing over matmuls that read that same
        tensor beside it (K's projection follows Q's; both read ln_1's output)."""
        ops = list(self.model.ops("sequence").values())
        i = next(k for k, op in enumerate(ops) if op.name == name)
        x = ops[i].inputs[0]
        for op in reversed(ops[:i]):
            if op.output == x and not (op.kind == "matmul" and op.inputs[0] == x):
                return op.name
        raise KeyError(name)  # every op of INPUT_OPS reads an earlier op's output

    def input(self, c: Claim) -> ClaimResult:
        """input.<op>: what the document says an op reads, against the op it reads from."""
        first = parts_of(c.key)[0]
        source = self.producer(first)
        expected = next(k for k, (ops, _) in INPUT_LABELS.items() if source in ops)
        r = ClaimResult(c, c.stated, None, c.stated, expected)
        stated_ops, stated_text = INPUT_LABELS[c.stated]
        if source in stated_ops:
            r.checks["model"] = "ok"
            return r
        what = GROUPS[c.key][1] if c.key in GROUPS else OP_NAMES[c.key]
        right = INPUT_LABELS[expected][1]
        order = [op.name for op in self.model.ops("sequence").values()]
        before = [o for o in stated_ops if order.index(o) < order.index(first)]
        short, stated_short = right.split(", ")[0], stated_text.split(" (")[0]
        reason = f"the input of {what} is {right} (the output of {source}), not {stated_text}"
        if before:
            start = order.index(before[-1])
            path = [o for o in order[start + 1:order.index(source) + 1]
                    if self.model.ops("sequence")[o].kind != "reshape"]
            reason += f": {before[-1]} → {' → '.join(path)} → {'/'.join(parts_of(c.key))}"
            if self.model.ops("sequence")[before[-1]].section != "block" and first not in NOT_BLOCK:
                reason += (" (the embeddings are the residual stream of block 0 only; every "
                           f"block reads its residual stream through its own {source})")
        else:
            reason += f", which is computed after {what}"
        r.fail("model", reason, f"its input is {short}, not {stated_short}", 1, complete=True)
        return r

    # ----- shapes ----------------------------------------------------------------------------

    def shape_of(self, key: str, scope: str, position=None):
        """(kind, shape, alternatives) of a shape quantity in a scope."""
        kind, source, _ = SHAPES[key]
        if kind == "weight":
            return kind, self._param(source), ()
        ops = self.model.ops(scope, position, symbolic_batch=True)
        if key in HEAD_SPLITS:
            return kind, ops["split_heads"].output, (ops["transpose_heads"].output,)
        return kind, ops[source].output, ()

    def _param(self, name: str):
        for fused in (False, True):
            for op in build_ops(self.doc.config.dims(), fused_qkv=fused, bias=self.doc.config.bias):
                for p in op.params:
                    if p.name == name:
                        return p.shape
        raise KeyError(name)

    def shape(self, c: Claim) -> ClaimResult:
        kind, expected, alternatives = self.shape_of(c.key, c.scope, c.position)
        stated = c.stated_shape
        written = c.written_shape
        r = ClaimResult(c, shape_text(written) if written else shape_text(stated), written,
                        stated, expected)
        name = SHAPES[c.key][2]
        if written is not None:
            if written != stated:
                r.fail("arithmetic", f"the written form {shape_text(written)} and the stated "
                       f"{shape_text(stated)} differ", f"the written {shape_text(written)} "
                       f"is not the stated {shape_text(stated)}", 4)
                if written != expected and written not in alternatives:
                    self._shape_diagnosis(c, r, written, "the written form", kind, expected,
                                          alternatives)
            else:
                r.checks["arithmetic"] = "ok"
        if stated == expected or stated in alternatives:
            r.checks["model"] = "ok"
            if r.checks.get("arithmetic") == "wrong":
                r.reasons.append(f"the stated {shape_text(stated)} is right")
                r.right = f"the stated {shape_text(stated)} is right"
        else:
            r.fail("model")
            self._split_of(c, r, expected)
            self._shape_diagnosis(c, r, stated, "the stated shape", kind, expected, alternatives)
        if c.listed_as and c.listed_as != kind:
            owner = (self.model.ops(c.scope, symbolic_batch=True)[SHAPES[c.key][1]]
                     if kind == "activation" else None)
            weights = ", ".join(f"{p.name} {shape_text(p.shape)}"
                                for p in (owner.params if owner else ())
                                if p.name.endswith(".weight"))
            what = ("it has the batch dimension" if kind == "activation"
                    else "it has no batch dimension")
            head = (f"{shape_text(expected)} is right for {name}, but that is"
                    if r.checks.get("model") == "ok" else f"{name} is")
            first = next((p for p in (owner.params if owner else ())
                          if p.name.endswith(".weight")), None)
            r.fail("labels", f"{head} an {kind} ({what}), not a {c.listed_as} matrix"
                   + (f"; the weights of {owner.name} are {weights}" if weights else ""),
                   f"{_short_name(c.key)} is an {kind}, not a {c.listed_as} matrix"
                   + (f"; its weight {first.name.removesuffix('.weight')} is "
                      f"{shape_text(first.shape)}" if first else ""), 1, complete=True)
        else:
            r.checks["labels"] = "ok"
        return r

    def _split_of(self, c: Claim, r: ClaimResult, expected) -> None:
        """A head split claimed of a tensor that is never split (the claim's ``of`` names the
        shape claim of that tensor); only Q, K and V are split into heads."""
        parent = self.by_id.get(c.of) if c.of else None
        if c.key != "heads" or parent is None or parent.kind != "shape" \
                or parent.key in ("q", "k", "v") or parent.key in HEAD_SPLITS:
            return
        q = self.model.ops(c.scope, c.position, symbolic_batch=True)["q_proj"].output
        what = _short_name(parent.key)
        r.reasons.append(f"the split is of {what} (claim {parent.id}), which is never split into "
                         f"heads: the attention splits Q, K and V (each {shape_text(q)}) into "
                         f"{shape_text(expected)}")
        r.note(f"{what} is never split into heads; Q, K and V are, as {shape_text(expected)}",
               0, complete=True)

    def _shape_diagnosis(self, c, r, shape, what, kind, expected, alternatives):
        name = SHAPES[c.key][2]
        L = self.doc.config.seq_len
        if kind == "weight" and shape == (BATCH,) + tuple(expected):
            r.reasons.append(f"a weight has no batch dimension: {name} is "
                             f"{shape_text(expected)}, one matrix shared by every sequence of "
                             "the batch")
            r.note(f"a weight has no batch dimension: {name} is {shape_text(expected)}", 1, True)
            if c.key in ("wq", "wk", "wv"):
                r.reasons[-1] += (f" (GPT-2 stores W_q, W_k, W_v side by side as attn.c_attn "
                                  f"{shape_text(self._param('attn.c_attn.weight'))})")
            return
        if kind == "activation" and len(shape) == len(expected) and shape != expected \
                and sorted(map(_sort_key, shape)) == sorted(map(_sort_key, expected)):
            if c.key in HEAD_SPLITS:
                cfg = self.doc.config
                r.reasons.append(
                    f"the head split has its last two dimensions swapped: {cfg.d_model} "
                    f"splits as {cfg.n_heads} heads × {cfg.d_head} (head-major), "
                    f"{shape_text(expected)}, transposed to {shape_text(alternatives[0])} for "
                    f"attention; {shape_text(shape)} would deal every {cfg.n_heads}th "
                    "feature to a head")
                r.note(f"its last two dimensions are swapped: the head split is "
                       f"{shape_text(expected)}", 1, True)
            else:
                r.reasons.append(f"{what} has the right sizes in the wrong order: "
                                 f"{name} is {shape_text(expected)}")
                r.note(f"{what} has its sizes in the wrong order: {name} is "
                       f"{shape_text(expected)}", 1, True)
            return
        if c.scope != "token":
            _, tok, tok_alt = self.shape_of(c.key, "token", c.position)
            if shape == tok or shape in tok_alt:
                r.reasons.append(
                    f"{what} {shape_text(shape)} is {name} of one token decoded with a KV "
                    f"cache (per-token scope); a full forward over {L} tokens computes "
                    f"them for all {L} tokens: {shape_text(expected)}")
                r.note(f"{what.replace(' form', '')} {shape_text(shape)} is for one decoded "
                       f"token; a forward over {L} tokens gives {shape_text(expected)}", 1, True)
                return
        for key, (k2, _, n2) in SHAPES.items():
            if key == c.key or key in HEAD_SPLITS:
                continue
            _, s2, alt2 = self.shape_of(key, c.scope, c.position)
            if shape == s2 or shape in alt2:
                r.reasons.append(f"{what} {shape_text(shape)} is the shape of {n2} "
                                 f"(an {k2}), not of {name} {shape_text(expected)}")
                r.note(f"{what} {shape_text(shape)} is the shape of {_short_name(key)}; "
                       f"{name} is {shape_text(expected)}", 1, True)
                return
        r.reasons.append(f"{name} is {shape_text(expected)}")
        r.note(f"{name} is {shape_text(expected)}", 3, True)

    # ----- FLOP claims -----------------------------------------------------------------------

    def flops(self, c: Claim) -> ClaimResult:
        m = self.model
        expected = m.expected(c.quantity, c.scope, c.blocks, c.position)
        r = ClaimResult(c, c.expression or fmt(c.stated), None, c.stated, expected)
        self._written(c, r)
        ref = m.reference(c)
        block_op = in_blocks(parts_of(c.key)) and c.key != "forward"
        terms = self._terms(c, r) if c.terms else []
        if c.stated == expected:
            r.checks["model"] = "ok"
            if r.checks.get("arithmetic") == "wrong":
                r.reasons.append("the stated value is flopcalc's count; the expression is off")
                r.right = f"the stated {fmt(c.stated)} is right"
        else:
            r.fail("model", f"flopcalc: {fmt(expected)} "
                   f"({m.ref_text(ref, c.position, block_op)}{self._breakdown(c)})")
            r.right = m.right_text(expected, ref, block_op)
            if r.checks.get("arithmetic") == "wrong" and r.written == expected:
                r.reasons.append("the expression is right; the stated result is not")
                r.right = f"the expression's {fmt(r.written)} is right"
                r.shorts = [s for s in r.shorts if s[0] != 4]  # "gives X": said by the right value
            r.matches = m.find(c.stated, c.key, ref, c.position)
            if r.matches:
                r.reasons.append(f"the stated {fmt(c.stated)} equals {_either(r.matches)}")
                r.note(f"the stated {fmt(c.stated)} is {m.brief(r.matches[0], ref)}", 3)
            if r.written is not None and r.written not in (c.stated, expected):
                wm = m.find(r.written, c.key, ref, c.position)
                if wm:
                    r.reasons.append(f"the expression's {fmt(r.written)} equals "
                                     f"{_either(wm)}")
        if c.quantity == "flops.block" and c.stated != expected and not self.doc.conventions.lm_head:
            head = m.count(("ln_f", "lm_head"), m.variant(c.scope), c.position)
            r.reasons.append(f"the LM head, outside the document's scope, would add {fmt(head)}")
        if terms:
            self._sum_diagnosis(c, r, terms, ref)
        if not c.terms:
            self._labels(c, r)
        return r

    def _breakdown(self, c: Claim) -> str:
        """'; one block: X = part a + part b …' for group quantities."""
        m = self.model
        if c.key not in GROUPS or c.key == "forward":
            return ""
        v = replace(m.reference(c), blocks=1)
        parts = [(p, m.count((p,), v, c.position)) for p in parts_of(c.key)]
        parts = [(p, x) for p, x in parts if x]
        one = sum(x for _, x in parts)
        text = " + ".join(f"{p} {fmt(x)}" for p, x in parts)
        if c.blocks != 1:
            return f"; one block: {fmt(one)} = {text}"
        return f" = {text}" if len(parts) > 1 else ""

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
            r.fail("labels", f"labels lists {len(c.labels)} labels for {len(fs)} factors")
            return
        cfg, fpm = self.doc.config, self.doc.conventions.flops_per_mac
        vals = [(_value(f, self.bindings), label.strip().lower(), f.text)
                for (_, f), label in zip(fs, c.labels)]
        problems = []
        flop_factors = [(v, t) for v, lab, t in vals if lab in ("flops", "flop")]
        for v, lab, t in vals:
            if lab in LABEL_DIMS and v is not None:
                dim = LABEL_DIMS[lab]
                want = getattr(cfg, dim)
                if c.scope == "token" and dim == "seq_len":
                    want = 1
                if v != want:
                    text = f"the factor {t} labelled {lab} is not {dim} ({fmt(want)})"
                    problems.append((text, text))
        if flop_factors:
            prod = math.prod(v for v, _ in flop_factors if v is not None)
            if prod != fpm:
                extra = prod / fpm
                listed = ", ".join(t for _, t in flop_factors)
                what, short = self._multiplicity(c, extra)
                if len(flop_factors) > 1:
                    problems.append((f"of the {len(flop_factors)} factors labelled FLOPs "
                                     f"({listed}), one is the {fpm} FLOPs per multiply-add; "
                                     f"the other {fmt(extra)} {what}",
                                     f"one of the factors labelled FLOPs ({listed}) {short}"))
                else:
                    problems.append((f"the factor labelled FLOPs ({listed}) is not the {fpm} FLOPs "
                                     f"per multiply-add; {fmt(extra)} × {fpm} {what}",
                                     f"the factor labelled FLOPs ({listed}) is {fmt(extra)} × "
                                     f"{fpm}: {fmt(extra)} {short}"))
        if problems:
            for p, short in problems:
                r.fail("labels", p, short, 5)
        else:
            r.checks.setdefault("labels", "ok")

    def _multiplicity(self, c: Claim, extra) -> tuple[str, str]:
        """What a stray factor of a product is (the count of equal parts, blocks, heads), in
        full and short."""
        m = self.model
        v = replace(m.reference(c), blocks=1)
        parts = [p for p in parts_of(c.key) if m.count((p,), v, c.position)]
        values = {m.count((p,), v, c.position) for p in parts}
        cfg = self.doc.config
        first = m.ops(c.scope, c.position)[parts[0]] if parts else None
        if len(parts) == extra > 1 and len(values) == 1 and first.kind == "matmul":
            a, b = first.inputs[0], first.inputs[1]
            dims = [d for d in a[:-2] if d != 1] + [a[-2], a[-1], b[-1]]
            return (f"is the number of {GROUPS[c.key][2]} ({' and '.join(parts)}, each "
                    f"{' × '.join(str(d) for d in dims)} multiply-adds), not FLOPs",
                    f"is the number of {GROUPS[c.key][2]}, not FLOPs")
        if extra == cfg.n_layers:
            return ("is the number of blocks, not FLOPs",) * 2
        if extra == cfg.n_heads:
            return ("is the number of heads, not FLOPs",) * 2
        return ("is not accounted for by flopcalc's count",) * 2

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
                restrict = tuple(p for p in parts_of(c.key) if p in OP_NAMES)
            match = None
            if value is not None and value != expected:
                found = m.find(value, t.key if t.quantity != "unattributed" else c.key, ref,
                               c.position, restrict)
                match = found[0] if found else None
            out.append(TermResult(tid, n.text, value, expected, t.quantity, match,
                                  t.stated is not None))
            if t.stated is None:  # a term-only claim: its own row
                own = {k: v for k, v in sol.items() if k in n.symbols}
                tr = ClaimResult(t, n.text + (f" ({_assignments(sol)})" if own else ""),
                                 value, None, expected, unknowns=own, term_of=c.id)
                self._term_row(t, tr, c, value, expected, match, n.text)
                self.results[t.id] = tr
        r.terms = out
        return out

    def _term_row(self, t, tr, parent, value, expected, match, text):
        m = self.model
        ref = m.reference(parent)
        block_op = in_blocks(parts_of(t.key))
        if value == expected:
            tr.checks["model"] = "ok"
        elif t.quantity == "unattributed":
            extra = self._elementwise_extra(parent)
            hint = self._dim_hint(value)
            tr.fail("model", f"no operation of flopcalc's count of {parent.quantity} is "
                    f"{fmt(value)} FLOPs" + (f" (matmuls only; counting elementwise work "
                                              f"would add {fmt(extra)}, not {fmt(value)})"
                                              if extra else "")
                    + hint,
                    f"no operation of {parent.quantity} is {fmt(value)} FLOPs"
                    + (f" ({hint[2:]})" if hint else "") + "; flopcalc counts 0 for it", 1, True)
        else:
            tr.fail("model", f"flopcalc: {fmt(expected)} "
                    f"({m.ref_text(ref, parent.position, block_op)})")
            tr.right = m.right_text(expected, ref, block_op)
            if expected == 0 and m.ops("sequence")[t.key].kind == "elementwise":
                ew = m.count((t.key,), replace(ref, ew="elementwise"), parent.position)
                per_block = m.count((t.key,), replace(ref, ew="elementwise", blocks=1),
                                    parent.position)
                tr.reasons[-1] = (f"{OP_NAMES[t.key]} is elementwise, not a dot product: "
                                  f"0 FLOPs in a matmul-only count; counted elementwise it is "
                                  f"{fmt(ew)} ({fmt(per_block)} per block)")
                tr.note(f"{OP_NAMES[t.key]} is elementwise, not a dot product: 0 FLOPs in a "
                        "matmul-only count", 1, True)
            if match:
                tr.matches = [match]
                tr.reasons.append(f"{fmt(value)} equals {match.description}")
                tr.note(f"{fmt(value)} is {m.brief(match, ref)}", 3)
        self._labels(t, tr, text)

    def _elementwise_extra(self, parent: Claim) -> int:
        if self.doc.conventions.elementwise:
            return 0
        m = self.model
        ref = m.reference(parent)
        parts = parts_of(parent.key)
        return (m.count(parts, replace(ref, ew="elementwise"), parent.position)
                - m.count(parts, ref, parent.position))

    def _dim_hint(self, value) -> str:
        cfg = self.doc.config
        for d in DIMS:
            if getattr(cfg, d) == value:
                return f"; {fmt(value)} is {d}"
        return ""

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
                        r.reasons.append(f"it is the sum with {t.id} taken at its expression's "
                                         f"value {fmt(ov)} instead of "
                                         f"{fmt(t.value)}")
                        r.note(f"its stated total takes {t.id} as {fmt(ov)}, its expression's "
                               f"value, not {fmt(t.value)}", 4)
                        break
                if c.stated == total - t.value:
                    r.reasons.append(f"the stated value is the sum without {t.id} "
                                     f"({'+' if t.value > 0 else '-'} {fmt(abs(t.value))})")
                    r.note(f"the expression {'adds' if t.value > 0 else 'subtracts'} "
                           f"{fmt(abs(t.value))} ({t.id}), giving {fmt(total)}", 3)
                    break
        # a standalone term whose figure differs from its own line's stated value
        for t in terms:
            other = self.by_id[t.id]
            if t.standalone and t.value != other.stated:
                r.fail("terms", f"{t.id} enters the sum as {fmt(t.value)}, but its own claim "
                       f"states {fmt(other.stated)}", f"{t.id} enters it as {fmt(t.value)}, "
                       f"not as its own stated {fmt(other.stated)}", 4)
        # terms that are wrong in the sum's scope
        if any(t.value != t.expected for t in terms):
            r.checks["terms"] = "wrong"
        for t in terms:
            if not t.standalone or t.value == t.expected:
                continue
            if t.match:
                r.reasons.append(f"{t.id} ({fmt(t.value)}) is {t.match.description}")
            elif self.result(self.by_id[t.id]).verdict == "wrong":
                r.reasons.append(f"{t.id} ({fmt(t.value)}) is wrong itself (see {t.id})")
        # term-only claims with mislabelled factors
        for t in terms:
            res = self.results.get(t.id)
            if res is not None and not t.standalone and res.checks.get("labels") == "wrong":
                r.fail("terms", f"in {t.id}, " + res.reasons[-1],
                       f"in {t.id}, " + min(res.shorts, key=lambda s: s[0])[1], 5)
        # counted twice: a term whose operations are already inside another term
        def ops_of(claim_id: str) -> set:
            return set(m.live(parts_of(self.by_id[claim_id].key)))

        for t in terms:
            tp = ops_of(t.id)
            for u in terms:
                if u is t or not tp:
                    continue
                up = ops_of(u.id)
                if tp < up or (tp == up and terms.index(u) < terms.index(t)):
                    inner = [s for s in self.result(self.by_id[u.id]).terms
                             if s.value == t.value and ops_of(s.id) == tp]
                    r.fail("terms", f"{t.id} ({fmt(t.value)}) is counted twice: "
                           f"{' + '.join(sorted(tp, key=list(OP_NAMES).index))} is already "
                           f"inside {u.id}"
                           + (f", whose {fmt(u.value)} includes {fmt(inner[0].value)} for it "
                              f"({inner[0].id})" if inner else ""),
                           f"{t.id} ({fmt(t.value)}) is counted twice: {u.id} includes it", 2)
                    if not t.standalone and t.id in self.results:
                        self.results[t.id].fail("terms", f"counted twice: {u.id} already "
                                                "includes it", f"counted twice: {u.id} already "
                                                "includes it", 2)
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
                r.fail("terms",
                       f"the term {t.text} ({t.id}) has no counterpart in flopcalc's count",
                       f"the term {t.text} ({t.id}) counts nothing flopcalc counts", 4)
        if len(scopes) > 1:
            r.fail("terms", "it mixes per-token terms (" + ", ".join(scopes["token"])
                   + ") with per-sequence terms (" + ", ".join(scopes["sequence"]) + ")",
                   "it mixes per-token and per-sequence terms", 2)
        if c.blocks != 1 and block_counts and all(b == 1 for b in block_counts):
            full, short = self._blocks_factor(c, terms)
            r.fail("terms", f"each term counts one block: the sum is not for {c.blocks} blocks"
                   + full, f"its terms count one block, not {c.blocks}" + short, 1)
        # what the stated total is without one of its terms
        if c.stated != r.expected and not r.matches:
            for t in terms:
                if t.value is None:
                    continue
                rest = c.stated - t.value
                found = m.find(rest, c.key, ref, c.position)
                if found:
                    r.reasons.append(f"without {t.id} ({fmt(t.value)}) the rest, {fmt(rest)}, "
                                     f"equals {_either(found)}")
                    break


    def _blocks_factor(self, c: Claim, terms: list[TermResult]) -> tuple[str, str]:
        """Whether a factor of the sum's expression counts its ``blocks``, from the figures:
        none equals ``blocks``, or each one that does sits in a term that is a per-head count
        of one block for all heads, where ``blocks`` = n_heads makes it the head count.
        (the clause for the reason, the clause for the headline)."""
        n, cfg = c.blocks, self.doc.config
        found = []   # (term, factor text) for each written figure equal to the blocks
        for (_, expr), t in zip(additive_terms(c.expression), terms):
            for _, f in factors(expr):
                if not f.symbols and _value(f, {}) == n:
                    found.append((t, f.text))
        if not found:
            return (f"; no factor of the expression is {n}, the number of blocks",
                    f" (no factor is {n})")
        heads = cfg.n_heads == n and all(
            t.match is not None and t.match.variant.blocks == 1 and not t.match.variant.one_head
            and set(t.match.parts) <= PER_HEAD for t, _ in found)
        if not heads:
            return "", ""
        ids = list(dict.fromkeys(t.id for t, _ in found))
        return (f"; its only factors equal to {n} (in {' and '.join(ids)}) are n_heads: those "
                f"terms count all {n} heads of one block, and no factor counts the {n} blocks",
                f": its {n}s are n_heads")


def _either(matches: list[Match]) -> str:
    """The cheapest match's description, and a second one as cheap if there is one."""
    first = matches[0]
    best = [m.description for m in matches
            if (m.cost, m.quantity_cost) == (first.cost, first.quantity_cost)][:2]
    return ", or ".join(best) if len(best) < 2 else f"{best[0]} (or {best[1]})"


def _sort_key(d):
    return (1, 0) if isinstance(d, Batch) else (0, d)


def evaluate_claims(claims_file: ClaimsFile) -> list[ClaimResult]:
    """Check every claim of a claims file against flopcalc (in the file's order)."""
    try:
        return Evaluator(claims_file).run()
    except ExpressionError as e:
        raise FlopcalcError(f"claims file {claims_file.source}: {e}") from None
