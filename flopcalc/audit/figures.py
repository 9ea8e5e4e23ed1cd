"""The figure check: every number a text states, matched against flopcalc's own quantities
for a model, with no claims file.

The model is given (a preset, a config.json, the shared model options) or inferred from
the dimensions the text states (``infer_model``). Its quantities (``quantities``) are every
operation's and group's FLOPs (per sequence and per decoded token, one block and all
blocks, 1 or 2 FLOPs per multiply-add, dense or causal, all heads or one), its parameters
(per tensor, per block, all blocks, in total) and its bytes (weights and the KV cache at
the usual dtypes). Each stated figure becomes a ``FigureFinding``: data only (what was
checked, the verdict, the quantity it equals, a reason code); ``report.figure_reason`` writes
the English.
"""

from __future__ import annotations

import functools
import math
import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from fractions import Fraction

from ..architecture import Architecture, Workload
from ..architectures import build
from ..config import Conventions, FlopcalcError
from .arithmetic import analyse, flop_unit
from .claims import GROUP_KEYS, Document, Model, Variant

DTYPES = {"fp32": 4, "bf16/fp16": 2, "int8/fp8": 1, "int4": Fraction(1, 2)}
# unit words -> (kind, size): what a figure counts and how many of the base unit one is
_BYTES = {"bytes": (1,), "byte": (1,), "B": (1,), "KB": (10**3, 2**10), "MB": (10**6, 2**20),
          "GB": (10**9, 2**30), "TB": (10**12, 2**40), "KiB": (2**10,), "MiB": (2**20,),
          "GiB": (2**30,), "TiB": (2**40,)}
_PARAMS = {"params", "param", "parameters", "parameter", "weights"}
SMALL = 1000   # a bare figure below this is read only as a dimension
INFER_FROM = 64 * 1024  # characters at the start of a text where a model is named or sized


@dataclass(frozen=True)
class Quantity:
    """One of flopcalc's quantities of the model: ``kind`` flops, params, bytes or dim;
    ``data`` says which (for flops the parts and the Variant; for params what and per;
    for bytes what, dtype and tokens)."""

    kind: str
    value: int | Fraction
    key: str                 # what it is, as a short id ("ffn", "params.total", "kv_cache")
    data: dict = field(default_factory=dict, compare=False)
    cost: int = 0            # how far from the usual reading (MACs, one head, causal, ...)


@dataclass(frozen=True)
class FigureFinding:
    """A stated figure checked against the model: data for ``report.figure_reason``.

    ``verdict`` is ok (it equals a quantity as it is usually counted), wrong (it equals a
    quantity only under a reading the text contradicts: the MAC count for FLOPs, one block
    for "total"), suspect (the same, against a model inferred from the text), or unmatched
    (no quantity of the model); ``code`` says why in one word;
    ``right`` is the value the quantity has as the text labels it; ``said`` the scope words
    the text puts before the figure ("block" for "per layer", "token", "head", "total");
    ``named`` the words of its sentence that name which quantity it is ("FFN", "KV cache",
    "parameters"), as written: a figure equal only to another quantity than the one named is
    ``unmatched`` with the code ``another-quantity``, neither confirmed nor called wrong."""

    line: int
    text: str
    unit: str
    value: Fraction            # the figure in its base unit (FLOPs, parameters, bytes)
    step: Fraction | None      # its precision (None: exact)
    verdict: str
    code: str
    quantity: Quantity | None = None
    others: tuple = ()         # further quantities it equals as well
    right: int | Fraction | None = None
    said: tuple = ()
    named: tuple = ()          # the words naming the quantity ("MLP", "KV cache"), as written

    def as_dict(self) -> dict:
        def number(x):
            if x is None:
                return None
            x = Fraction(x)
            return x.numerator if x.denominator == 1 else f"{x.numerator}/{x.denominator}"

        def q(x: Quantity | None):
            if x is None:
                return None
            data = {k: v for k, v in x.data.items()
                    if k not in ("variant", "single_ew", "matmul", "in_blocks", "n_layers",
                                 "roles")}
            if "variant" in x.data:
                v = x.data["variant"]
                data.update(scope=v.scope, blocks=v.blocks, flops_per_mac=v.fpm,
                            attention=v.attention, one_head=v.one_head, elementwise=v.ew)
            return {"kind": x.kind, "key": x.key, "value": number(x.value), **data}

        return {"line": self.line, "written": self.text, "unit": self.unit or None,
                "value": number(self.value), "precision": number(self.step),
                "verdict": self.verdict, "reason_code": self.code,
                "quantity": q(self.quantity), "also": [q(o) for o in self.others],
                "right": number(self.right), "scope_words": list(self.said),
                "quantity_words": list(self.named)}


@dataclass(frozen=True)
class ModelGuess:
    """What ``infer_model`` read from a text: the starting preset or family, each dimension
    it found (with its line), and the dimensions it had to take from that start."""

    architecture: Architecture
    workload: Workload
    start: str                                 # "preset llama-3.1-8b", "family llama", ...
    found: dict = field(default_factory=dict)  # dimension -> (value, line)
    assumed: tuple = ()                        # dimensions not stated in the text
    named: bool = True                         # False: the text names no model or family


# ------------------------------------------------------------------------------ numbers

@dataclass(frozen=True)
class Number:
    """A number as the text states it (``find_numbers``): the figure check's input."""

    line: int
    text: str                 # as written ("1.2", "124M", "1.5 \\times 10^{9}")
    value: Fraction           # magnitudes applied ("124M": 124,000,000)
    step: Fraction | None     # its last digit's unit when written rounded, else None (exact)
    unit: str                 # the word right after it ("FLOPs", "GB", "params"), or ""
    operand: bool             # a factor or term of an expression, not a figure stated alone
    stated: bool              # the right side of "=", "≈" or "~"


def find_numbers(text: str, code: bool = False) -> list[Number]:
    """Every number of the text's prose and math (fenced code skipped unless ``code``), in
    order; ``a × 10^k`` is one number."""
    numbers: list[Number] = []
    analyse(text, code, lambda scan: numbers.extend(_numbers(text, scan)))
    return numbers


def _numbers(text: str, scan, operands: bool = True) -> list[Number]:
    """The numbers of one piece of the text (``find_numbers``); without ``operands``, only
    those stated alone (what the figure check reads)."""
    out = []
    toks, kinds, n = scan.toks, scan.kinds, len(scan.toks)
    last = -1  # the end of the last number read (an exponent is not a number of its own)
    for i in scan.indices("NUM"):
        tok = toks[i]
        if i < last or tok.value is None:
            continue
        value, step, end = tok.value, tok.step, i + 1
        # a × 10^k, 10^{k}: scientific notation written out
        if (end + 3 < n and toks[end].kind == "OP" and toks[end].text == "*"
                and toks[end + 1].value == 10 and toks[end + 2].text == "^"):
            k = end + 3
            exp = k + 1 if toks[k].kind == "OPEN" and k + 2 < n else k
            if toks[exp].kind == "NUM" and toks[exp].value is not None and \
                    toks[exp].value.denominator == 1 and abs(toks[exp].value) <= 300:
                scale = Fraction(10) ** int(toks[exp].value)
                value, step = value * scale, (step or 1) * scale if step else None
                end = exp + 1 + (exp != k and exp + 1 < n and toks[exp + 1].kind == "CLOSE")
        last = end
        # an operand when an operator follows right after it (not after a word: the word's)
        operand = end < n and kinds[end] in ("OP", "FRAC")
        if operand and not operands:
            continue
        before = scan.prev_sig(i)
        prev = toks[before] if before is not None else None
        operand = operand or (prev is not None and prev.kind in ("OP", "FRAC"))
        if not operand and prev is not None and prev.kind == "OPEN":
            # "\frac{3.15 \times 10^{23}}{1.5 \times 10^{17}}": a bracket opened after an
            # operator, a fraction or a root, or right after another bracket ("}{")
            outer = scan.prev_sig(before)
            operand = outer is not None and toks[outer].kind in ("OP", "FRAC", "ROOT", "CLOSE")
        if operand and not operands:
            continue
        unit = toks[end].text if end < n and toks[end].kind == "LABEL" else ""
        out.append(Number(scan.line_of(tok.start), text[tok.start:toks[end - 1].end],
                          value, step, unit, operand,
                          prev is not None and prev.kind == "EQ"))
    return out



# ------------------------------------------------------------------------------ model

def model_document(arch: Architecture, workload: Workload) -> Document:
    """A claims ``Document`` for a model with the usual conventions (2 FLOPs per
    multiply-add, dense attention, matmuls only), whose ``claims.Model`` the figures use."""
    from ..config import Config

    return Document("", "", Config.of(arch, workload), Conventions(), {}, None, arch, workload)


def quantities(arch: Architecture, workload: Workload) -> list[Quantity]:
    """Every quantity of the model a figure may equal, cheapest reading first."""
    from ..analysis import param_report
    from ..memory import kv_cache_elements

    model = Model(model_document(arch, workload))
    out = []
    n = arch.n_layers
    names: dict = {}
    ops = model.ops("sequence")
    label_of = _labeller(model)
    for parts in model.candidates():  # the counts of the parts a quantity's label names
        label = label_of(parts)
        if label is None:
            continue
        roles = tuple(_tags(ops[p].role) for p in parts)
        matmul, in_blocks = bool(model.matmuls(parts)), model.in_blocks(parts)
        for _, v, block, every, other, single_ew in model.entries_for(parts):
            for blocks in ((1, n) if block else (1,)):
                value = (every if blocks == n else block) + other
                variant = Variant(v.scope, blocks, v.fpm, v.attention, v.one_head, v.ew)
                cost = ((v.fpm != 2 and not single_ew) + v.one_head + (v.ew != "doc")
                        + (v.attention != "dense") + (v.scope != "sequence")
                        + (label.startswith("subset:")))
                out.append(Quantity("flops", value, label, {
                    "name": names[label] if label in names else names.setdefault(
                        label, _name(model, label, parts)),
                    "parts": list(parts), "roles": roles,
                    "variant": variant, "single_ew": single_ew,
                    "matmul": matmul, "in_blocks": in_blocks,
                    "n_layers": n}, cost))
    report = param_report(arch)
    per_block: dict = {}
    block_roles: dict = {}
    for r in report.rows:
        roles = (_tags(r.role),)
        if r.section == "block":
            per_block.setdefault(r.group, [0, r.times])[0] += r.param.count
            block_roles.setdefault(r.group, set()).add(roles[0])
        out.append(Quantity("params", r.param.count, f"tensor:{r.param.name}",
                            {"tensor": r.param.name, "shape": list(r.param.shape),
                             "per": "block" if r.section == "block" else "model",
                             "roles": roles}))
        if r.section == "block" and r.times > 1:
            out.append(Quantity("params", r.param.count * r.times, f"tensor:{r.param.name}",
                                {"tensor": r.param.name, "per": "all blocks",
                                 "blocks": r.times, "roles": roles}, 1))
    every = tuple({_tags(r.role) for r in report.rows})
    for part in ("attention", "ffn"):  # a block's attention or MLP tensors, together
        rows = [r for r in report.rows if r.section == "block" and part in _tags(r.role)]
        one = sum(r.param.count for r in rows if r.group == rows[0].group) if rows else 0
        if one:
            roles = (frozenset({part}),)
            out.append(Quantity("params", one, f"params.{part}", {
                "per": "block", "part": part, "roles": roles}))
            out.append(Quantity("params", sum(r.param.count * r.times for r in rows),
                                f"params.{part}", {"per": "all blocks", "blocks": n,
                                                   "part": part, "roles": roles}, 1))
    for group, (count, times) in per_block.items():
        out.append(Quantity("params", count, "params.block", {
            "group": group, "per": "block", "roles": tuple(block_roles[group])}))
    out.append(Quantity("params", sum(c * t for c, t in per_block.values()), "params.blocks",
                        {"per": "all blocks", "blocks": n,
                         "roles": tuple(set().union(*block_roles.values()))}))
    out.append(Quantity("params", report.total, "params.total", {"per": "model",
                                                                "roles": every}))
    out.append(Quantity("params", report.non_embedding, "params.non_embedding",
                        {"per": "model", "roles": every}))
    out.append(Quantity("params", report.section_total("embedding"), "params.embedding",
                        {"per": "model", "roles": (frozenset({"embedding"}),)}))
    kv = (frozenset({"kv_cache"}),)
    for dtype, size in DTYPES.items():
        out.append(Quantity("bytes", report.total * size, "bytes.weights",
                            {"dtype": dtype, "parameters": report.total, "roles": every}))
        for tokens, per in ((workload.seq_len, "sequence"), (1, "token")):
            elements = kv_cache_elements(arch, tokens, workload)
            out.append(Quantity("bytes", elements * size, "bytes.kv_cache",
                                {"dtype": dtype, "tokens": tokens, "batch": workload.batch,
                                 "per": per, "roles": kv}))
            out.append(Quantity("bytes", Fraction(elements * size, n), "bytes.kv_cache",
                                {"dtype": dtype, "tokens": tokens, "batch": workload.batch,
                                 "per": f"{per}, one layer", "roles": kv}, 1))
    dims = {"d_model": arch.d_model, "n_heads": arch.n_heads, "n_kv_heads": arch.n_kv_heads,
            "d_head": arch.d_head, "n_layers": n, "d_ff": arch.d_ff, "vocab": arch.vocab,
            "seq_len": workload.seq_len, "batch": workload.batch,
            "n_positions": arch.n_positions}
    if arch.sliding_window is not None:
        dims["window"] = arch.sliding_window
    for name, value in dims.items():
        out.append(Quantity("dim", value, f"dim.{name}", {"dimension": name}))
    return out


def _name(model: Model, label: str, parts) -> str:
    """A quantity's name in words, from report.Words, where the audit's English is written."""
    from .report import Words

    return Words(model).quantity_name(label, parts)


def _labeller(model: Model):
    """The quantity a set of parts is: one op's name, a group's key, "subset:group" (a
    function of the parts; the groups' parts found once)."""
    groups = [(g, model.live(model.parts_of(g))) for g in GROUP_KEYS]
    subsets = [(g, set(model.matmuls(model.live(model.parts_of(g)))))
               for g in ("qkv_proj", "attention", "ffn")]

    def label(parts) -> str | None:
        if len(parts) == 1:
            return parts[0]
        for g, live in groups:
            if live == parts:
                return g
        for g, matmuls in subsets:
            if set(parts) < matmuls:
                return "subset:" + g
        return None
    return label


# ------------------------------------------------------------------------------ figures

@functools.lru_cache(maxsize=1024)  # a text's units are few, and read at every figure
def _reading(unit: str) -> tuple[str, tuple, int | None]:
    """(kind, sizes of one unit in the base unit, FLOPs per multiply-add it implies)."""
    if unit in _BYTES:
        return "bytes", _BYTES[unit], None
    if unit.lower() in _PARAMS:
        return "params", (1,), None
    flops = flop_unit(unit)
    if flops is not None:
        return "flops", (10 ** flops[0],), 1 if flops[1] else 2
    return "", (1,), None


_SCOPE_WORDS = re.compile(
    r"\b(?:(?P<block>(?:per|each|one|a single|every)\s+(?:layer|block))"
    r"|(?P<token>per\s+token)|(?P<head>(?:per|each|one|a single)\s+head)"
    r"|(?P<total>in total|total|all (?:the )?(?:layers|blocks)|(?:whole|entire) model))\b",
    re.I)


def _said_scope(lines: list[str], number: Number) -> set[str]:
    """The scope words on the figure's line before it ("per layer", "per token", "total")."""
    line = lines[number.line - 1] if number.line <= len(lines) else ""
    at = line.find(number.text)
    before = _clause(line[:at] if at >= 0 else line)
    return {m.lastgroup for m in _SCOPE_WORDS.finditer(before[-80:])}


# Which quantity a sentence names: each word (lower-case) -> what it names, a kind of count
# or a part of the model (data, not rules about one text). A part is named by the roles of
# its operations and tensors (``_tags``).
QUANTITY_WORDS = {
    "flops": ("flops", "flop", "flop count", "compute", "macs", "multiply-adds",
              "multiply-accumulates"),
    "params": ("parameters", "parameter", "params", "param", "parameter count"),
    "bytes": ("bytes", "memory", "vram", "footprint", "storage"),
}
PART_WORDS = {
    "attention": ("attention", "self-attention", "attn", "softmax", "attention scores",
                  "causal mask"),
    "qkv": ("qkv", "q, k, v", "q, k and v", "q/k/v", "query", "queries", "q projection",
            "k projection", "v projection", "key projection", "value projection", "q_proj",
            "k_proj", "v_proj", "c_attn", "w_q", "w_k", "w_v"),
    "ffn": ("ffn", "mlp", "feed-forward", "feedforward", "feed forward", "ffn_up", "ffn_down",
            "gate_proj", "up_proj", "down_proj", "c_fc"),
    "lm_head": ("lm head", "lm_head", "unembedding", "output head", "logits"),
    "embedding": ("embedding", "embeddings", "embedding table", "embedding matrix", "wte",
                  "embed_tokens"),
    "kv_cache": ("kv cache", "kv-cache", "key-value cache", "kv_cache"),
}
_WORD_OF = {w: ("kind", k) for k, ws in QUANTITY_WORDS.items() for w in ws}
_WORD_OF.update({w: ("part", k) for k, ws in PART_WORDS.items() for w in ws})


def _words_pattern(words) -> str:
    """The regex of any of ``words`` (in their order: the first that fits wins), grouped by
    first letter: a position is tried only against the words that can start there."""
    groups: dict[str, list[str]] = {}
    for w in words:
        groups.setdefault(w[0].lower(), []).append(w)
    return "|".join(re.escape(first) + "(?:" + "|".join(re.escape(w[1:]) for w in ws) + ")"
                    for first, ws in groups.items())


_QUANTITY_WORD = re.compile(r"(?<![\w-])(" + _words_pattern(
    sorted(_WORD_OF, key=len, reverse=True)) + r")(?![\w-])", re.I)
_SENTENCE_END = re.compile(r"[.!?;](?=\s)")
# a figure of a count stated before this one, with its magnitude or unit ("1.2 TFLOPs",
# "8.03B", "16.06 GB"; not "12 layers"): the words before it name that figure, not this one
# (its first digit is matched before the look behind it, so that the search skips to digits)
_FIGURE_BEFORE = re.compile(r"\d(?<![\w.,]\d)[\d,]*(?:\.\d+)?(?:([KMBTG])\b)?[ \t]*([A-Za-z][\w/]*)?")


def _clause(before: str) -> str:
    """The text before a figure that speaks of it: after the last figure of a count stated
    before it (whose words those are)."""
    cut = 0
    for m in _FIGURE_BEFORE.finditer(before):
        if m.group(1) or (m.group(2) and _reading(m.group(2))[0]):
            cut = m.end()
    return before[cut:]


def _tags(role: str) -> frozenset:
    """The parts of the model (``PART_WORDS``' keys) an operation's or tensor's role is in."""
    if role in ("attention.q", "attention.k", "attention.v", "attention.qkv"):
        return frozenset({"attention", "qkv"})
    if role.startswith("attention."):
        return frozenset({"attention"})
    if role.startswith(("mlp.", "moe.")):
        return frozenset({"ffn"})
    return frozenset({role.split(".")[0]})


def _said_quantity(lines: list[str], number: Number) -> tuple[set, set, tuple]:
    """(the kinds, the parts and the words as written) that the figure's sentence names for
    it: the nearest such words before the figure in its sentence (after any figure stated
    before it, whose words they are), else those after it up to the next figure."""
    i = number.line - 1
    line = lines[i] if i < len(lines) else ""
    at = line.find(number.text)
    before, after = (line[:at], line[at + len(number.text):]) if at >= 0 else (line, "")
    while i > 0 and lines[i - 1].strip() and len(before) < 400:  # the sentence's lines
        i -= 1
        before = lines[i] + " " + before
    ends = list(_SENTENCE_END.finditer(before))
    before = _clause(before[ends[-1].end():] if ends else before)
    found = list(_QUANTITY_WORD.finditer(before))
    if not found:
        stop = re.search(r"\d|[.!?;](?=\s|$)", after)
        found = list(_QUANTITY_WORD.finditer(after[:stop.start()] if stop else after))
    kinds, parts, words = set(), set(), []
    for m in found:
        what, key = _WORD_OF[m.group(1).lower()]
        (kinds if what == "kind" else parts).add(key)
        words.append(m.group(1))
    return kinds, parts, tuple(dict.fromkeys(words))


def _is_named(q: Quantity, kinds: set, parts: set) -> bool:
    """Whether a quantity is the one the text names: of a kind it names (if it names one),
    and every part of it in a part it names (if it names one)."""
    if len(kinds) == 1 and q.kind not in kinds:
        return False
    roles = q.data.get("roles")
    return not parts or roles is None or all(tags & parts for tags in roles)


def _fits(q: Quantity, kind: str) -> bool:
    return q.kind == kind if kind else q.kind in ("flops", "params", "bytes")


def _agrees(q: Quantity, scope: set[str]) -> bool:
    """Whether a quantity is of the scope the text states (none stated: any)."""
    if q.kind != "flops":
        per = q.data.get("per", "")
        if "block" in scope:
            return per in ("block",) or "layer" in per
        if "total" in scope:
            return per in ("model", "all blocks", "sequence", "token")
        return True
    v = q.data["variant"]
    if "head" in scope and not v.one_head:
        return False
    if "token" in scope and v.scope != "token":
        return False
    if "block" in scope and v.blocks != 1:
        return False
    if "total" in scope and q.data["in_blocks"] and v.blocks == 1 and q.data["n_layers"] > 1:
        return False  # "total": all the blocks, not one
    return True


_DIM_UNITS = {"tokens", "token", "layers", "layer", "blocks", "heads", "head", "kv", "dims",
              "dimensions"}


def _cheapest(item: tuple[int, Quantity]) -> tuple[int, int]:
    return item[1].cost, item[0]


class Catalogue:
    """The model's quantities sorted by value: the ones within a range found by bisection
    (on the whole part of each value, so that the search compares ints, not fractions)."""

    def __init__(self, items: list[Quantity]):
        self.items = sorted(enumerate(items), key=lambda p: p[1].value)
        self.keys = [math.floor(q.value) for _, q in self.items]
        self.dims: dict = {}
        for _, q in self.items:
            if q.kind == "dim":
                self.dims.setdefault(q.value, []).append(q)

    def within(self, lo, hi, kind: str) -> list[Quantity]:
        """The quantities of ``kind`` (any but dimensions when "") in [lo, hi], cheapest first."""
        keys = self.keys
        i = bisect_left(keys, math.floor(lo))
        j = bisect_right(keys, math.floor(hi), i)
        if i >= j:
            return []  # most figures equal no quantity
        hits = [p for p in self.items[i:j] if _fits(p[1], kind) and lo <= p[1].value <= hi]
        if len(hits) > 1:
            hits.sort(key=_cheapest)
        return [q for _, q in hits]


def read_text(text: str, code: bool = False) -> tuple[Analysis, list[Number]]:
    """(the arithmetic's analysis, the numbers stated alone) of a text in one reading: what the
    arithmetic, the model inference and the figure check take."""
    numbers: list[Number] = []
    analysis = analyse(text, code, lambda scan: numbers.extend(_numbers(text, scan, False)))
    return analysis, numbers


def check_figures(text: str, arch: Architecture, workload: Workload, code: bool = False,
                  numbers: list[Number] | None = None,
                  inferred: bool = False) -> list[FigureFinding]:
    """Every figure the text states (not an operand of an expression, which the arithmetic
    checks), matched against the model's quantities; ``numbers``: the text's, if read.

    Against a model ``inferred`` from the text, a figure that would be wrong is "suspect":
    the model may not be the text's everywhere, so it does not fail the audit."""
    catalogue = Catalogue(quantities(arch, workload))
    lines = text.splitlines()
    out = []
    readings: dict = {}
    said: dict = {}  # what a figure's words say, by (line, figure as written): read once

    def scope(number: Number) -> set[str]:
        key = ("scope", number.line, number.text)
        if key not in said:
            said[key] = _said_scope(lines, number)
        return said[key]

    def quantity(number: Number) -> tuple[set, set, tuple]:
        key = ("quantity", number.line, number.text)
        if key not in said:
            said[key] = _said_quantity(lines, number)
        return said[key]

    for number in find_numbers(text, code) if numbers is None else numbers:
        if number.operand:
            continue
        value = number.value  # compared as an int when it is one (ints compare faster)
        value = value.numerator if value.denominator == 1 else value
        kind, sizes, fpm = readings.get(number.unit) or readings.setdefault(
            number.unit, _reading(number.unit))
        if value * max(sizes) <= 2:
            continue  # 1 and 2 are everywhere (one head, 2 FLOPs per multiply-add); "0.29
            #           GiB" is a size
        unit = number.unit
        if not kind:
            word = unit.lower()
            if word not in _DIM_UNITS:
                unit = ""  # a word after it, not its unit
            exact = number.step is None and type(value) is int
            dims = list(catalogue.dims.get(value, ())) if exact else []
            if dims:
                named = _LOOKUP.get(word)  # "32 layers": n_layers before n_heads
                dims.sort(key=lambda q: q.data["dimension"] != named)
                out.append(FigureFinding(number.line, number.text, unit, number.value,
                                         number.step, "ok", "dimension", dims[0],
                                         tuple(dims[1:3])))
                continue
            if value < SMALL or word in _DIM_UNITS:
                continue  # a small bare figure (a count, a version) is not a model quantity
        out.append(_match(number, unit, kind, sizes, fpm, catalogue,
                          lambda number=number: scope(number),
                          "suspect" if inferred else "wrong",
                          lambda number=number: quantity(number)))
    return out


def _match(number: Number, unit: str, kind, sizes, fpm, catalogue: Catalogue, scope,
           wrong: str, named=None) -> FigureFinding:
    best = other = said = None
    whole = number.value.numerator if number.value.denominator == 1 else None
    for size in sizes:  # ints compare faster: a whole value times a unit's size is one
        value = whole * size if whole is not None else number.value * size
        value = value.numerator if value.denominator == 1 else value
        half = number.step * size / 2 if number.step else 0
        hits = catalogue.within(value - half, value + half, kind)
        if not hits:
            continue
        said = said or (named() if named else (set(), set(), ()))  # read for a hit only
        kinds = set() if kind else said[0]  # a unit says the kind itself
        mine = [q for q in hits if _is_named(q, kinds, said[1])]
        if mine:
            named_ones = set(mine)  # (equal quantities are one: Quantity's ==)
            best = (value, mine, [q for q in hits if q not in named_ones])
            break
        other = other or (value, hits)
    if best is None and other is not None:  # equal only to another quantity than the named
        value, hits = other
        step = number.step * (value / number.value) if number.step else None
        return FigureFinding(number.line, number.text, unit, value, step, "unmatched",
                             "another-quantity", hits[0], _others(hits), named=said[2])
    if best is None:
        return FigureFinding(number.line, number.text, unit,
                             number.value * sizes[0] if sizes[0] != 1 else number.value,
                             number.step and number.step * sizes[0], "unmatched",
                             "no-quantity")
    value, hits, others = best
    scope = scope()  # the scope words before the figure (read only for a figure that matches)
    step = number.step * (value / number.value) if number.step else None
    want = fpm or 2

    def usual(q: Quantity) -> bool:
        if q.kind != "flops":
            return True
        v = q.data["variant"]
        return (v.ew == "doc" and (v.fpm == want or not _has_matmul(q))) or v.ew == "elementwise"

    right = [q for q in hits if usual(q) and _agrees(q, scope)]
    if right:
        return FigureFinding(number.line, number.text, unit, value, step, "ok",
                             "equals", right[0], _others(right), named=said[2])
    elsewhere = [q for q in others if usual(q) and _agrees(q, scope)]
    if elsewhere:  # as usually counted it is another quantity than the one named: not wrong
        return FigureFinding(number.line, number.text, unit, value, step, "unmatched",
                             "another-quantity", elsewhere[0], _others(elsewhere),
                             named=said[2])
    if not (unit or scope or said[0] or said[1]):
        # a bare figure in a sentence that names no quantity, unit or scope: no reading of it
        # is contradicted by the text (it equals nothing as usually counted)
        return FigureFinding(number.line, number.text, unit, value, step, "unmatched",
                             "no-quantity", named=said[2])
    q = hits[0]
    code, correct = "scope", None
    if q.kind == "flops":
        v = q.data["variant"]
        if v.ew == "as_mac":
            code = "elementwise-as-mac"
        elif v.fpm != want and _has_matmul(q):
            code = "mac-count" if v.fpm == 1 else "flops-for-macs"
            correct = q.value * want // v.fpm
    return FigureFinding(number.line, number.text, unit, value, step, wrong, code,
                         q, _others(hits), correct, tuple(sorted(scope)), said[2])


def _others(hits: list[Quantity]) -> tuple:
    """Up to two further quantities among ``hits`` that are other things than the first (not
    the same operations read another way)."""
    first = hits[0]
    seen = {(first.kind, first.key)}
    out = []
    for q in hits[1:]:
        if (q.kind, q.key) not in seen:
            seen.add((q.kind, q.key))
            out.append(q)
    return tuple(out[:2])


def _has_matmul(q: Quantity) -> bool:
    return q.data["matmul"] and not q.data["single_ew"]


# ------------------------------------------------------------------------------ inference

# names a text may give a dimension (symbols, words), lower-case
_DIM_NAMES = {
    "d_model": ("d_model", "d_{model}", "dmodel", "hidden_size", "hidden size",
                "model dimension", "embedding dimension", "embedding size", "width", "n_embd"),
    "n_heads": ("n_heads", "n_head", "heads", "attention heads", "num_attention_heads"),
    "n_kv_heads": ("n_kv_heads", "kv heads", "key-value heads", "num_key_value_heads", "h_kv",
                   "kv_heads"),
    "d_head": ("d_head", "d_h", "d_k", "head_dim", "head dimension", "d_{head}", "d_{h}"),
    "n_layers": ("n_layers", "n_layer", "layers", "num_hidden_layers", "blocks", "n_l"),
    "d_ff": ("d_ff", "d_{ff}", "ffn", "intermediate_size", "intermediate size", "d_ffn"),
    "vocab": ("vocab", "vocab_size", "vocabulary", "vocabulary size"),
    "seq_len": ("seq_len", "sequence length", "context length", "n_ctx", "context", "tokens",
                "seq"),
}
# one-letter symbols, case and all (D is often a dataset's tokens, N a parameter count)
_LETTERS = {"d": "d_model", "h": "n_heads", "H": "n_heads", "n": "seq_len", "T": "seq_len",
            "s": "seq_len", "V": "vocab"}
# the largest value a text's dimension may plausibly have (else it is something else)
_PLAUSIBLE = {"d_model": 1 << 17, "n_heads": 1024, "n_kv_heads": 1024, "d_head": 4096,
              "n_layers": 1000, "d_ff": 1 << 19, "vocab": 1 << 22, "seq_len": 1 << 24}
_LOOKUP = {name: dim for dim, names in _DIM_NAMES.items() for name in names}
# a whole number not inside another (its first digit is matched before the look behind it,
# so that a search skips to digits): 1-3 digits and groups of 3 after commas, or digits
_NUMBER = r"(\d(?<![\d.,]\d)(?:\d{0,2}(?:,\d{3})+|\d*))(?![.,]?\d)"
_COUNT_WORDS = re.compile(_NUMBER + r"\s+(layers|blocks|attention heads|heads|kv heads|"
                          r"key-value heads|tokens)\b", re.I)
_NAMED = re.compile("(" + _words_pattern((
    "hidden size", "model dimension", "embedding dimension", "intermediate size",
    "vocabulary size", "vocabulary", "sequence length", "context length", "head dimension"))
    + r")\s*(?:of|is|=|:)?\s*" + _NUMBER, re.I)


# words naming a family (no preset named): word -> family
_FAMILIES = {"llama": "llama", "mistral": "mistral", "qwen3": "qwen3", "qwen": "qwen2",
             "gemma": "gemma2", "phi-3": "phi3", "pythia": "gpt_neox", "neox": "gpt_neox",
             "gpt-2": "gpt2", "gpt2": "gpt2"}
_NEWLINE = re.compile("\n")
_FAMILY_WORDS = re.compile("(" + "|".join(re.escape(w) for w in sorted(
    _FAMILIES, key=len, reverse=True)) + ")")


def _loose(name: str) -> str:
    """A model name as it is matched: lower case, without the hyphens, underscores and
    spaces people write or leave out ("GPT-2 XL", "gpt2-xl" and "GPT2 XL" are one name)."""
    return re.sub(r"[-_ ]", "", name.lower())


def _loose_pattern(name: str) -> str:
    """The regex of a loose name: its pieces (split at those marks and where letters meet
    digits), each may be joined to the next by one of them or nothing."""
    pieces = re.findall(r"[a-z]+|[0-9][0-9.]*|[^a-z0-9 _-]", name)
    return "[-_ ]?".join(re.escape(p) for p in pieces)


def infer_model(text: str, bindings: list | None = None) -> ModelGuess | None:
    """The model a text describes: a preset it names (short or Hugging Face name), else the
    family it names, with each dimension it states on top. None when it states no dimension
    and names no model."""
    from ..architectures.presets import PRESETS, family_fields, preset_fields

    lower = text[:INFER_FROM].lower()
    start, fields, named = None, None, True
    names = {}
    for short, (hf, _) in PRESETS.items():
        names[short], names[hf.lower()] = short, short
    pattern = "|".join(_loose_pattern(n) for n in sorted(names, key=len, reverse=True))
    names = {_loose(n): short for n, short in names.items()}
    m = re.search(r"(?<![\w.-])(" + pattern + r")(?![\w-]|\.\w)", lower)  # "8B." ends it
    if m:
        short = names[_loose(m.group(1))]
        start, fields = f"preset {short}", preset_fields(short)
    if fields is None:
        m = _FAMILY_WORDS.search(lower)
        if m:
            family = _FAMILIES[m.group(1)]
            start, fields = f"family {family}", family_fields(family)
    found: dict = {}
    # lines are counted only for what is read from the text's start (``head``)
    newlines = [m.start() for m in _NEWLINE.finditer(text, 0, INFER_FROM)]

    def line_of(offset: int) -> int:
        return bisect_right(newlines, offset - 1) + 1

    def note(dim, value, line):
        if dim and dim not in found and 0 < value <= _PLAUSIBLE[dim]:
            found[dim] = (int(value), line)

    for b in read_text(text)[0].bindings if bindings is None else bindings:
        if b.value.denominator == 1:
            name = b.name.replace("\\", "")
            note(_LETTERS.get(name) if len(name) == 1 else _LOOKUP.get(name.lower()),
                 b.value, b.line)
    head = text[:INFER_FROM]  # sizes in words are read from the text's start (definitions
    #                           given as "name = value" from all of it)
    words = [(m.start(), m.group(2), m.group(1)) for m in _COUNT_WORDS.finditer(head)]
    words += [(m.start(), m.group(1), m.group(2)) for m in _NAMED.finditer(head)]
    for at, name, value in sorted(words):  # the first statement of each, in the text's order
        note(_LOOKUP.get(name.lower()), int(value.replace(",", "")), line_of(at))
    if fields is None and not found:
        return None
    if fields is None:
        start, fields, named = "family gpt2", family_fields("gpt2"), False
    fields = dict(fields)
    seq_len = found.get("seq_len", (128, 0))[0]
    for dim, (value, _) in found.items():
        if dim != "seq_len":
            fields[dim] = value
    if "d_model" in found and "d_ff" not in found and fields.get("family", "gpt2") == "gpt2":
        fields["d_ff"] = None  # GPT-2's FFN follows the width
    if "d_model" in found or "n_heads" in found:
        if "d_head" not in found and fields.get("family", "gpt2") == "gpt2":
            fields["d_head"] = None
    try:
        arch = Architecture(**fields)
        build(arch, arch.dims())
    except FlopcalcError:  # what the text states does not make a model (a stray binding)
        return None
    if arch.positions == "learned" and seq_len > arch.n_positions:
        if "seq_len" in found:  # the text's sequence length: position rows for all of it
            arch = Architecture(**{**fields, "n_positions": seq_len})
        else:
            seq_len = arch.n_positions
    assumed = tuple(d for d in ("d_model", "n_heads", "n_layers", "d_ff", "vocab", "seq_len")
                    if d not in found)
    return ModelGuess(arch, Workload(1, seq_len), start, found, assumed, named)
