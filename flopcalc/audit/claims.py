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
from dataclasses import fields as dataclass_fields
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
FAMILY_TITLES = {"gpt2": "GPT-2"}  # how a family is named in a sentence (else its name)
ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth")
NORM_NAMES = {"layernorm": "LayerNorm", "rmsnorm": "RMSNorm"}
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
    description: str
    quantity_cost: int = 0   # the part of ``cost`` for a quantity other than the claim's

    def as_dict(self) -> dict:
        v = self.variant
        return {"value": self.value, "quantity": self.quantity, "parts": list(self.parts),
                "scope": v.scope, "blocks": v.blocks, "flops_per_mac": v.fpm,
                "attention": v.attention, "one_head": v.one_head, "elementwise": v.ew,
                "cost": self.cost, "description": self.description}


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
            value = op_flops(op, Conventions(
                flops_per_mac=v.fpm, attention=v.attention,
                elementwise=v.ew == "elementwise" or self.conv.elementwise))
        return value // self.n_heads if v.one_head else value

    def op_value(self, name: str, v: Variant, position=None) -> int:
        """One op's FLOPs, once (not times blocks), under a variant."""
        key = (name, v.scope, v.fpm, v.attention, v.one_head, v.ew, position)
        if key not in self._values:
            self._values[key] = self._value(self.ops(v.scope, position)[name], v)
        return self._values[key]

    def all_blocks(self, name: str, v: Variant, position=None) -> int:
        """One block op's FLOPs over all n_layers blocks: each block group's times its repeat."""
        key = ("all", name, v.scope, v.fpm, v.attention, v.one_head, v.ew, position)
        if key not in self._values:
            self._values[key] = sum(repeat * self._value(ops[name], v)
                                    for repeat, ops in self.block_repeats(v.scope, position))
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

    def op_text(self, name: str) -> str:
        """What an op is, in words ("the first LayerNorm", "the Q projection", "GELU")."""
        op = self.ops("sequence")[name]
        norm = NORM_NAMES.get(self.arch.norm, "norm")
        plain = self.arch.mlp == "plain"
        if op.role == "norm":
            if op.section == "head":
                return f"the final {norm}"
            norms = self._block_norms()
            if name in norms:
                return f"the {ORDINALS[norms.index(name)]} {norm}"
            return f"{name} ({op.computes})"
        if op.role == "residual":
            adds = [o.name for o in self.ops("sequence").values() if o.role == "residual"]
            return f"the {ORDINALS[adds.index(name)]} residual add"
        if op.role == "mlp.up":
            return ("the FFN's first matmul (d_model → d_ff)" if plain
                    else "the MLP's up projection (d_model → d_ff)")
        if op.role == "mlp.down":
            return ("the FFN's second matmul (d_ff → d_model)" if plain
                    else "the MLP's down projection (d_ff → d_model)")
        if op.role == "mlp.act":
            return ACTIVATION_NAMES.get(self.arch.activation, self.arch.activation)
        if op.role == "attention.rotary":
            return f"the rotary embedding ({op.computes.split(':')[0]})"
        return ROLE_TEXT.get(op.role, f"{name} ({op.computes})")

    def group_text(self, key: str) -> tuple[str, str]:
        """(what a group is, the noun of its matmuls for "k of the n <noun>")."""
        plain = self.arch.mlp == "plain"
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
        parts = self.parts_of(label)
        return self.op_text(parts[0]) if parts else label

    def label_ops(self, label: str) -> tuple[tuple, str]:
        """(the ops whose output an ``input.*`` label names, its description)."""
        if label not in self._labels:
            self._labels[label] = self._find_label(label)
        return self._labels[label]

    def _find_label(self, label: str) -> tuple[tuple, str]:
        ops = self.ops("sequence")
        norm = NORM_NAMES.get(self.arch.norm, "norm")
        first = lambda key: (self.parts_of(key) or ("",))[0]  # noqa: E731
        if label == "embedding":
            embed = ops[first("embed")]
            table = embed.computes.split("= ", 1)[-1]
            return (tuple(n for n, op in ops.items() if op.section == "embedding"),
                    f"the embeddings {table}")
        if label == "ln_1_output":
            ln = first("ln_1")
            return (ln,), f"{ln}(x), the first {norm} of the residual stream x"
        if label == "heads_concat":
            merge = [n for n, op in ops.items() if op.role == "attention.heads"][-1:]
            return tuple(merge), "the concatenated heads (softmax·V of every head)"
        if label == "attention_output":
            return self.parts_of("out_proj"), "the attention output (after W_o)"
        if label == "residual":
            return (tuple(n for n, op in ops.items() if op.role == "residual"),
                    "the residual stream after a residual add")
        if label == "ln_2_output":
            ln = first("ln_2")
            text = self.op_text(ln).removeprefix("the ") if ln else norm
            return (ln,), (f"{ln}(x + attention output), the {text} of the residual stream "
                           "after the attention's residual add")
        if label == "ffn_hidden":
            down = first("ffn_down")
            source = self.producer(down) if down else ""
            act = ACTIVATION_NAMES.get(self.arch.activation, self.arch.activation)
            return (source,), (f"the FFN's hidden activation {act}(x·W_1)"
                               if self.arch.mlp == "plain" else
                               f"the MLP's hidden activation {act}(x·W_gate)·(x·W_up)")
        if label == "ffn_output":
            return self.parts_of("ffn_down"), "the FFN output (after W_2)"
        ln = first("ln_f")
        return (ln,), f"{ln}(x), the final {norm} of the last block's output"

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
        """(kind, shape, alternatives, description, the op that owns or makes it) of a shape
        quantity, or None when the model has no such tensor (no wpe with rotary positions)."""
        kind = SHAPE_KINDS[key]
        if kind == "weight":
            found = self._weight(key)
            if found is None:
                return None
            op, param = found
            stem = param.name.removesuffix(".weight")
            plain = self.arch.mlp == "plain"
            text = {"wte": f"the token embedding matrix {stem}",
                    "wpe": f"the position embedding matrix {stem}",
                    "w_qkv": f"the fused W_qkv ({stem})", "wq": "W_q", "wk": "W_k", "wv": "W_v",
                    "wo": f"W_o ({stem})",
                    "w_ffn_up": (f"the FFN's first weight W_1 ({stem})" if plain
                                 else f"the MLP's up weight W_up ({stem})"),
                    "w_ffn_down": (f"the FFN's second weight W_2 ({stem})" if plain
                                   else f"the MLP's down weight W_down ({stem})")}[key]
            # written as x·W, a weight is (d_in, d_out) whichever way the checkpoint stores it
            return kind, param.shape, (tuple(op.weight),) if op.weight and \
                tuple(op.weight) != tuple(param.shape) else (), text, op
        ops = self.ops(scope, position, symbolic_batch=True)
        names = self._activation_ops()
        name, texts = names.get(key), {
            "embedding_input": "the embedded input " + ops[self.parts_of("embed")[0]].computes
            if self.parts_of("embed") else "",
            "q": "the queries Q", "k": "the keys K", "v": "the values V", "heads": "the head split",
            "q_heads": "Q split into heads", "k_heads": "K split into heads",
            "v_heads": "V split into heads", "scores": "the attention scores",
            "attn_values": "softmax·V per head", "attn_output": "the merged heads",
            "ffn_hidden": "the FFN's hidden activation", "logits": "the logits"}
        if name is None:
            return None
        alternatives = ()
        if key in HEAD_SPLITS and names.get(key + ":t"):
            alternatives = (ops[names[key + ":t"]].output,)
        return kind, ops[name].output, alternatives, texts[key], ops[name]

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
        group and subset of a group, under every variant."""
        if position in self._entries_of:
            return self._entries_of[position]
        order = [n for n, op in self.ops("sequence").items() if op.kind != "reshape"]
        quantities = dict.fromkeys((name,) for name in order)  # an ordered set
        for g in GROUP_KEYS:
            live = self.live(self.parts_of(g))
            if live:
                quantities[live] = None
            mm = self.matmuls(live)
            if g != "forward":
                for k in range(1, len(mm)):
                    for sub in combinations(mm, k):
                        quantities[tuple(sorted(sub, key=order.index))] = None
        entries = []
        ops = self.ops("sequence")
        for parts in quantities:
            single_ew = len(parts) == 1 and ops[parts[0]].kind == "elementwise"
            per_head = all(self.per_head(p) for p in parts)
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
                            inside = [p for p in parts if not self.outside(p)]
                            block = sum(self.op_value(p, v, position) for p in inside)
                            every = sum(self.all_blocks(p, v, position) for p in inside)
                            other = sum(self.op_value(p, v, position) for p in parts
                                        if self.outside(p))
                            if block or other:
                                entries.append((parts, v, block, every, other, single_ew))
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
        return f"per sequence of {self.seq_len} tokens"

    def blocks_text(self, blocks: int) -> str:
        return "one block" if blocks == 1 else f"{blocks} blocks"

    def ref_text(self, ref: Variant, position=None, block_op=True) -> str:
        text = self.scope_text(ref.scope, position)
        return text + (f", {self.blocks_text(ref.blocks)}" if block_op else "")

    def _subset_text(self, m: Match, position, counted: bool) -> str:
        group = m.quantity.split(":", 1)[1]
        members = self.matmuls(self.live(self.parts_of(group)))
        noun = self.group_text(group)[1] if group in GROUP_KEYS else self.what(group)
        v = m.variant
        if not counted:
            return f"{len(m.parts)} of the {len(members)} {noun}"
        vals = {self.op_value(p, v, position) for p in m.parts}
        if len(vals) == 1 and len({self.op_value(p, v, position) for p in members}) == 1:
            each = self.count(m.parts[:1], v, position) if self.in_blocks(m.parts) \
                else vals.pop()
            return f"{len(m.parts)} of the {len(members)} {noun} ({len(m.parts)} × {fmt(each)})"
        return " + ".join(m.parts) + f" ({len(m.parts)} of the {len(members)} {noun})"

    def describe(self, m: Match, ref: Variant, position=None) -> str:
        v = m.variant
        label = m.quantity
        what = (self._subset_text(m, position, True) if label.startswith("subset:")
                else self.what(label))
        bits = []
        if v.one_head:
            bits.append("for one head")
        bits.append(self.scope_text(v.scope, position))
        if self.in_blocks(m.parts):
            bits.append(f"for {self.blocks_text(v.blocks)}")
        if v.ew == "elementwise":
            ops = self.ops("sequence")
            costs = sorted({ELEMENTWISE_COST[ops[p].cost] for p in m.parts if ops[p].cost})
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
        what = (self._subset_text(m, None, False) if label.startswith("subset:")
                else self.what(label))
        bits = []
        if v.one_head:
            bits.append("for one head")
        if v.scope != ref.scope:
            bits.append("per token" if v.scope == "token" else "per sequence")
        if self.in_blocks(m.parts) and v.blocks != ref.blocks:
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
    findings: list = field(default_factory=list)  # each a record: check, code, facts

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

    def record(self, check: str, code: str, **facts) -> None:
        """A finding as data: the check it belongs to, its reason code, and its facts (the
        right value, the quantity the figure matches, the term concerned). The sentences of
        ``reasons`` and ``headline`` say the same in words."""
        self.findings.append({"check": check, "code": code,
                              **{k: _finding_value(v) for k, v in facts.items()}})

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
            "findings": list(self.findings),
        }


def _finding_value(x):
    """A finding's fact as JSON holds it (numbers and shapes as ``json_value``)."""
    return json_value(x) if isinstance(x, (Fraction, tuple)) else x


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
            r.record("arithmetic", "arithmetic-mismatch", computed=r.written)
            r.fail("arithmetic", f"the expression evaluates to {fmt(r.written)}; the stated "
                   f"{fmt(c.stated)} is {_diff_text(c.stated, r.written)}",
                   f"the expression gives {fmt(r.written)}, not the stated {fmt(c.stated)}", 4)
        else:
            r.checks["arithmetic"] = "ok"

    def dim(self, c: Claim) -> ClaimResult:
        expected = self.doc.dim(c.key)
        r = ClaimResult(c, c.expression or fmt(c.stated), None, c.stated, expected)
        self._written(c, r)
        if c.stated != expected:
            r.record("model", "dimension-differs", right=expected)
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
            r.record("model", "flops-per-mac-differs", right=fpm)
            r.fail("model", f"the document's counts use {fpm} FLOPs per multiply-add",
                   f"the document counts {fpm} FLOPs per multiply-add, not {fmt(c.stated)}", 1,
                   complete=True)
        else:
            r.checks["model"] = "ok"
        if c.per is not None and c.per.lower() not in PER_MAC:
            k = self.doc.dim("d_head")
            r.record("labels", "multiply-add-is-not-a-dot-product", right=c.stated)
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
            r.record("labels", "rate-for-count", right="FLOPs")
            r.fail("labels", f"{c.stated} (floating-point operations per second) is a rate, "
                   "a hardware's throughput; the document's figures are counts of operations, "
                   "FLOPs (lower-case s, a plural), with no time in them",
                   f"{c.stated} is a rate per second; the figures are counts, FLOPs", 1,
                   complete=True)
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
        expected = next((k for k in INPUT_LABELS if source in m.label_ops(k)[0]), source)
        r = ClaimResult(c, c.stated, None, c.stated, expected)
        stated_ops, stated_text = m.label_ops(c.stated)
        if source in stated_ops:
            r.checks["model"] = "ok"
            return r
        what = m.what(c.key)
        right = m.label_ops(expected)[1] if expected in INPUT_LABELS else m.op_text(source)
        order = [op.name for op in self.model.ops("sequence").values()]
        before = [o for o in stated_ops if order.index(o) < order.index(first)]
        short, stated_short = right.split(", ")[0], stated_text.split(" (")[0]
        reason = f"the input of {what} is {right} (the output of {source}), not {stated_text}"
        if before:
            start = order.index(before[-1])
            path = [o for o in order[start + 1:order.index(source) + 1]
                    if self.model.ops("sequence")[o].kind != "reshape"]
            reason += f": {before[-1]} → {' → '.join(path)} → {'/'.join(parts)}"
            if self.model.outside(before[-1]) and not self.model.outside(first):
                reason += (" (the embeddings are the residual stream of block 0 only; every "
                           f"block reads its residual stream through its own {source})")
        else:
            reason += f", which is computed after {what}"
        r.record("model", "wrong-input", right=expected, source=source)
        r.fail("model", reason, f"its input is {short}, not {stated_short}", 1, complete=True)
        return r

    # ----- shapes ----------------------------------------------------------------------------

    def shape_of(self, key: str, scope: str, position=None):
        """(kind, shape, alternatives) of a shape quantity in a scope."""
        found = self.model.shape_source(key, scope, position)
        if found is None:
            raise FlopcalcError(f"claims file {self.cf.source}: shape.{key}: this model "
                                f"({self.doc.architecture.family}) has no such tensor")
        return found[:3]

    def shape_name(self, key: str) -> str:
        """A shape quantity in words ("the embedded input x = wte[tokens] + wpe[positions]")."""
        return self.model.shape_source(key)[3]

    def short_name(self, key: str) -> str:
        """A shape quantity's name without its formula ("the embedded input x")."""
        return self.shape_name(key).split(" = ")[0]

    def shape(self, c: Claim) -> ClaimResult:
        kind, expected, alternatives = self.shape_of(c.key, c.scope, c.position)
        stated = c.stated_shape
        written = c.written_shape
        r = ClaimResult(c, shape_text(written) if written else shape_text(stated), written,
                        stated, expected)
        name = self.shape_name(c.key)
        if written is not None:
            if written != stated:
                r.record("arithmetic", "written-shape-differs", computed=written)
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
            r.record("model", "shape-differs", right=expected)
            r.fail("model")
            self._split_of(c, r, expected)
            self._shape_diagnosis(c, r, stated, "the stated shape", kind, expected, alternatives)
        if c.listed_as and c.listed_as != kind:
            owner = (self.model.shape_source(c.key, c.scope)[4]
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
            r.record("labels", f"{kind}-listed-as-{c.listed_as}", right=kind)
            r.fail("labels", f"{head} an {kind} ({what}), not a {c.listed_as} matrix"
                   + (f"; the weights of {owner.name} are {weights}" if weights else ""),
                   f"{self.short_name(c.key)} is an {kind}, not a {c.listed_as} matrix"
                   + (f"; its weight {first.name.removesuffix('.weight')} is "
                      f"{shape_text(first.shape)}" if first else ""), 1, complete=True)
        else:
            r.checks["labels"] = "ok"
        return r

    def _fused_checkpoint(self):
        """(the family's name, the tensor, its shape) when the family's checkpoints store
        W_q, W_k and W_v as one tensor (GPT-2's attn.c_attn), else None."""
        from ..architectures.presets import family_fields

        arch = self.doc.architecture
        family = Architecture(**family_fields(arch.family))
        if not family.fused_qkv:
            return None
        weight = self.model._weight("w_qkv")
        if weight is None:
            return None
        return FAMILY_TITLES.get(arch.family, arch.family), \
            weight[1].name.removesuffix(".weight"), weight[1].shape

    def _split_of(self, c: Claim, r: ClaimResult, expected) -> None:
        """A head split claimed of a tensor that is never split (the claim's ``of`` names the
        shape claim of that tensor); only Q, K and V are split into heads."""
        parent = self.by_id.get(c.of) if c.of else None
        if c.key != "heads" or parent is None or parent.kind != "shape" \
                or parent.key in ("q", "k", "v") or parent.key in HEAD_SPLITS:
            return
        q = self.model.shape_source("q", c.scope, c.position)[1]
        what = self.short_name(parent.key)
        r.reasons.append(f"the split is of {what} (claim {parent.id}), which is never split into "
                         f"heads: the attention splits Q, K and V (each {shape_text(q)}) into "
                         f"{shape_text(expected)}")
        r.record("model", "never-split-into-heads", right=expected)
        r.note(f"{what} is never split into heads; Q, K and V are, as {shape_text(expected)}",
               0, complete=True)

    def _shape_diagnosis(self, c, r, shape, what, kind, expected, alternatives):
        name = self.shape_name(c.key)
        L = self.doc.dim("seq_len")
        if kind == "weight" and shape == (BATCH,) + tuple(expected):
            r.reasons.append(f"a weight has no batch dimension: {name} is "
                             f"{shape_text(expected)}, one matrix shared by every sequence of "
                             "the batch")
            r.record("model", "weight-with-batch-dimension", right=expected)
            r.note(f"a weight has no batch dimension: {name} is {shape_text(expected)}", 1, True)
            fused = self._fused_checkpoint() if c.key in ("wq", "wk", "wv") else None
            if fused:
                r.reasons[-1] += (f" ({fused[0]} stores W_q, W_k, W_v side by side as "
                                  f"{fused[1]} {shape_text(fused[2])})")
            return
        if kind == "activation" and len(shape) == len(expected) and shape != expected \
                and sorted(map(_sort_key, shape)) == sorted(map(_sort_key, expected)):
            if c.key in HEAD_SPLITS:
                dim = self.doc.dim
                heads = expected[-2]  # the query heads, or the KV heads of K and V
                r.reasons.append(
                    f"the head split has its last two dimensions swapped: "
                    f"{heads * dim('d_head')} splits as {heads} heads × {dim('d_head')} "
                    f"(head-major), {shape_text(expected)}, transposed to "
                    f"{shape_text(alternatives[0])} for attention; {shape_text(shape)} would "
                    f"deal every {heads}th feature to a head")
                r.record("model", "head-split-swapped", right=expected)
                r.note(f"its last two dimensions are swapped: the head split is "
                       f"{shape_text(expected)}", 1, True)
            else:
                r.reasons.append(f"{what} has the right sizes in the wrong order: "
                                 f"{name} is {shape_text(expected)}")
                r.record("model", "sizes-in-wrong-order", right=expected)
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
                r.record("model", "decode-shape-for-sequence", right=expected)
                r.note(f"{what.replace(' form', '')} {shape_text(shape)} is for one decoded "
                       f"token; a forward over {L} tokens gives {shape_text(expected)}", 1, True)
                return
        for key in SHAPE_KINDS:
            if key == c.key or key in HEAD_SPLITS:
                continue
            found = self.model.shape_source(key, c.scope, c.position)
            if found is None:
                continue
            k2, s2, alt2, n2, _ = found
            if shape == s2 or shape in alt2:
                r.reasons.append(f"{what} {shape_text(shape)} is the shape of {n2} "
                                 f"(an {k2}), not of {name} {shape_text(expected)}")
                r.record("model", "shape-of-another-tensor", right=expected, matches=key)
                r.note(f"{what} {shape_text(shape)} is the shape of {self.short_name(key)}; "
                       f"{name} is {shape_text(expected)}", 1, True)
                return
        r.reasons.append(f"{name} is {shape_text(expected)}")
        r.note(f"{name} is {shape_text(expected)}", 3, True)

    # ----- FLOP claims -----------------------------------------------------------------------

    def flops(self, c: Claim) -> ClaimResult:
        m = self.model
        if not m.parts_of(c.key):
            fused = " (it fuses Q, K and V: claim flops.qkv_proj)" if c.key in (
                "q_proj", "k_proj", "v_proj") and m.parts_of("qkv_proj") else ""
            raise FlopcalcError(f"claims file {self.cf.source}: claim {c.id!r}: this model "
                                f"({self.doc.architecture.family}) has no {c.key}{fused}")
        expected = m.expected(c.quantity, c.scope, c.blocks, c.position)
        r = ClaimResult(c, c.expression or fmt(c.stated), None, c.stated, expected)
        self._written(c, r)
        ref = m.reference(c)
        block_op = m.in_blocks(m.parts_of(c.key)) and c.key != "forward"
        terms = self._terms(c, r) if c.terms else []
        if c.stated == expected:
            r.checks["model"] = "ok"
            if r.checks.get("arithmetic") == "wrong":
                r.reasons.append("the stated value is flopcalc's count; the expression is off")
                r.right = f"the stated {fmt(c.stated)} is right"
        else:
            r.record("model", "count-differs", right=expected)
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
                r.record("model", "equals-another-quantity", matches=r.matches[0].as_dict())
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
        if c.key not in GROUP_KEYS or c.key == "forward":
            return ""
        v = replace(m.reference(c), blocks=1)
        parts = [(p, m.count((p,), v, c.position)) for p in m.parts_of(c.key)]
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
            r.record("labels", "labels-do-not-match-factors")
            r.fail("labels", f"labels lists {len(c.labels)} labels for {len(fs)} factors")
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
                r.record("labels", "factor-labelled-wrongly")
                r.fail("labels", p, short, 5)
        else:
            r.checks.setdefault("labels", "ok")

    def _multiplicity(self, c: Claim, extra) -> tuple[str, str]:
        """What a stray factor of a product is (the count of equal parts, blocks, heads), in
        full and short."""
        m = self.model
        v = replace(m.reference(c), blocks=1)
        parts = [p for p in m.parts_of(c.key) if m.count((p,), v, c.position)]
        values = {m.count((p,), v, c.position) for p in parts}
        first = m.ops(c.scope, c.position)[parts[0]] if parts else None
        if len(parts) == extra > 1 and len(values) == 1 and first.kind == "matmul":
            a, b = first.inputs[0], first.inputs[1]
            dims = [d for d in a[:-2] if d != 1] + [a[-2], a[-1], b[-1]]
            noun = m.group_text(c.key)[1] if c.key in GROUP_KEYS else m.what(c.key)
            return (f"is the number of {noun} ({' and '.join(parts)}, each "
                    f"{' × '.join(str(d) for d in dims)} multiply-adds), not FLOPs",
                    f"is the number of {noun}, not FLOPs")
        if extra == self.doc.dim("n_layers"):
            return ("is the number of blocks, not FLOPs",) * 2
        if extra == self.doc.dim("n_heads"):
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
                tr = ClaimResult(t, n.text + (f" ({_assignments(sol)})" if own else ""),
                                 value, None, expected, unknowns=own, term_of=c.id)
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
            extra = self._elementwise_extra(parent)
            hint = self._dim_hint(value)
            tr.record("model", "unattributed-term", right=0)
            tr.fail("model", f"no operation of flopcalc's count of {parent.quantity} is "
                    f"{fmt(value)} FLOPs" + (f" (matmuls only; counting elementwise work "
                                              f"would add {fmt(extra)}, not {fmt(value)})"
                                              if extra else "")
                    + hint,
                    f"no operation of {parent.quantity} is {fmt(value)} FLOPs"
                    + (f" ({hint[2:]})" if hint else "") + "; flopcalc counts 0 for it", 1, True)
        else:
            tr.record("model", "count-differs", right=expected)
            tr.fail("model", f"flopcalc: {fmt(expected)} "
                    f"({m.ref_text(ref, parent.position, block_op)})")
            tr.right = m.right_text(expected, ref, block_op)
            own = m.parts_of(t.key)
            if expected == 0 and len(own) == 1 and m.ops("sequence")[own[0]].kind == "elementwise":
                ew = m.count(own, replace(ref, ew="elementwise"), parent.position)
                per_block = m.count(own, replace(ref, ew="elementwise", blocks=1),
                                    parent.position)
                tr.reasons[-1] = (f"{m.what(t.key)} is elementwise, not a dot product: "
                                  f"0 FLOPs in a matmul-only count; counted elementwise it is "
                                  f"{fmt(ew)} ({fmt(per_block)} per block)")
                tr.record("model", "elementwise-not-a-dot-product", right=0)
                tr.note(f"{m.what(t.key)} is elementwise, not a dot product: 0 FLOPs in a "
                        "matmul-only count", 1, True)
            if match:
                tr.matches = [match]
                tr.reasons.append(f"{fmt(value)} equals {match.description}")
                tr.record("model", "equals-another-quantity", matches=match.as_dict())
                tr.note(f"{fmt(value)} is {m.brief(match, ref)}", 3)
        self._labels(t, tr, text)

    def _elementwise_extra(self, parent: Claim) -> int:
        if self.doc.conventions.elementwise:
            return 0
        m = self.model
        ref = m.reference(parent)
        parts = m.parts_of(parent.key)
        return (m.count(parts, replace(ref, ew="elementwise"), parent.position)
                - m.count(parts, ref, parent.position))

    def _dim_hint(self, value) -> str:
        for d in DIMS:
            if self.doc.dim(d) == value:
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
                        r.record("terms", "total-takes-expression-value", term=t.id)
                        r.note(f"its stated total takes {t.id} as {fmt(ov)}, its expression's "
                               f"value, not {fmt(t.value)}", 4)
                        break
                if c.stated == total - t.value:
                    r.reasons.append(f"the stated value is the sum without {t.id} "
                                     f"({'+' if t.value > 0 else '-'} {fmt(abs(t.value))})")
                    r.record("terms", "total-without-term", term=t.id)
                    r.note(f"the expression {'adds' if t.value > 0 else 'subtracts'} "
                           f"{fmt(abs(t.value))} ({t.id}), giving {fmt(total)}", 3)
                    break
        # a standalone term whose figure differs from its own line's stated value
        for t in terms:
            other = self.by_id[t.id]
            if t.standalone and t.value != other.stated:
                r.record("terms", "term-differs-from-its-claim", term=t.id)
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
                r.record("terms", "term-label", term=t.id)
                r.fail("terms", f"in {t.id}, " + res.reasons[-1],
                       f"in {t.id}, " + min(res.shorts, key=lambda s: s[0])[1], 5)
        # counted twice: a term whose operations are already inside another term
        def ops_of(claim_id: str) -> set:
            return set(m.live(m.parts_of(self.by_id[claim_id].key)))

        for t in terms:
            tp = ops_of(t.id)
            for u in terms:
                if u is t or not tp:
                    continue
                up = ops_of(u.id)
                if tp < up or (tp == up and terms.index(u) < terms.index(t)):
                    inner = [s for s in self.result(self.by_id[u.id]).terms
                             if s.value == t.value and ops_of(s.id) == tp]
                    r.record("terms", "counted-twice", term=t.id, inside=u.id)
                    r.fail("terms", f"{t.id} ({fmt(t.value)}) is counted twice: "
                           f"{' + '.join(sorted(tp, key=list(m.ops('sequence')).index))} is already "
                           f"inside {u.id}"
                           + (f", whose {fmt(u.value)} includes {fmt(inner[0].value)} for it "
                              f"({inner[0].id})" if inner else ""),
                           f"{t.id} ({fmt(t.value)}) is counted twice: {u.id} includes it", 2)
                    if not t.standalone and t.id in self.results:
                        self.results[t.id].record("terms", "counted-twice", inside=u.id)
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
                r.record("terms", "term-without-counterpart", term=t.id)
                r.fail("terms",
                       f"the term {t.text} ({t.id}) has no counterpart in flopcalc's count",
                       f"the term {t.text} ({t.id}) counts nothing flopcalc counts", 4)
        if len(scopes) > 1:
            r.record("terms", "mixes-scopes")
            r.fail("terms", "it mixes per-token terms (" + ", ".join(scopes["token"])
                   + ") with per-sequence terms (" + ", ".join(scopes["sequence"]) + ")",
                   "it mixes per-token and per-sequence terms", 2)
        if c.blocks != 1 and block_counts and all(b == 1 for b in block_counts):
            full, short = self._blocks_factor(c, terms)
            r.record("terms", "one-block-for-many-blocks")
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
        n, m = c.blocks, self.model
        found = []   # (term, factor text) for each written figure equal to the blocks
        for (_, expr), t in zip(additive_terms(c.expression), terms):
            for _, f in factors(expr):
                if not f.symbols and _value(f, {}) == n:
                    found.append((t, f.text))
        if not found:
            return (f"; no factor of the expression is {n}, the number of blocks",
                    f" (no factor is {n})")
        heads = self.doc.dim("n_heads") == n and all(
            t.match is not None and t.match.variant.blocks == 1 and not t.match.variant.one_head
            and all(m.per_head(p) for p in t.match.parts) for t, _ in found)
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
