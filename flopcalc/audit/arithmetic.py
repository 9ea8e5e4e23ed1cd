r"""Exact checking of "expression = number" claims in Markdown/LaTeX prose.

``find_equations(text)`` finds every arithmetic claim such as ``$3 \times 128 = 384$`` or
the plain-text line ``3 x 128 x 768 = 294,912`` and evaluates its left side exactly with
``fractions.Fraction``.  Symbols defined in the text (``h = 12``) are learned in order of
appearance; a claim with one symbol still unknown gets the value that would make it hold.

The pipeline is small on purpose::

    text -> regions (math or plain) -> tokens -> for each "=": the longest expression that
    ends there and the one that starts there (recursive descent) -> chains "a = b = c"
    -> each arithmetic side checked against the nearest plain number of its chain.

Labels are ignored wherever they sit between factors: ``\text{...}``, ``\mathrm{...}``,
``**bold**`` markers, unit words ("128 tokens", "2 FLOPs") and parenthetical remarks such
as ``L(\text{depends on the position})``.  Nothing here raises on any input: a fragment
that does not parse is skipped, and an "expression = number" that parses but has no exact
value (a division by zero, a value or exponent beyond the limits below, a number written
with spaces between its digit groups, an expression longer than ``WINDOW`` tokens) gets the
verdict 'cannot evaluate' and a ``reason``.

One expression on its own (a claims file's "3 × 128 tokens × 768 x 2") goes through the same
tokenizer and parser: ``parse_expression`` reads it as math (every name is a symbol, unit
words are labels, a lone "x" is "times"), ``evaluate`` and ``solve`` give its exact value or
the value of its one unknown, ``additive_terms`` and ``factors`` its parts with their text.
These raise ``ExpressionError`` on what they cannot read or evaluate.
"""

from __future__ import annotations

import bisect
import functools
import math
import re
from itertools import accumulate, compress, repeat
from operator import add, attrgetter, itemgetter
from typing import NamedTuple
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from fractions import Fraction

__all__ = [
    "Binding",
    "Equation",
    "Analysis",
    "Expression",
    "ExpressionError",
    "Identity",
    "ShapeEquality",
    "additive_terms",
    "analyse",
    "evaluate",
    "factors",
    "fenced_code_blocks",
    "find_bindings",
    "find_equations",
    "find_identities",
    "find_shape_equalities",
    "parse_expression",
    "solve",
]

# Limits that keep every input fast; a fragment beyond them counts as unparseable.
MAX_EXPONENT = 10_000  # largest |n| in a^n, 1e<n> or N \times 10^{n}
MAX_BITS = 14_000  # largest numerator/denominator of any value: < 4,300 digits, so str()
#                   works on every result despite Python's int-to-str digit limit
MAX_DIGITS = 1_000  # longest number literal (far below int()'s 4300-digit limit)
MAX_DEGREE = 32  # largest polynomial degree when solving for an unknown
MAX_ROOT_INDEX = 64  # largest n of an n-th root (\sqrt[n]{…}, x^{1/n}) given bounds
MAX_NESTING = 60  # brackets, signs and exponents nested inside one expression
WINDOW = 256  # tokens searched on either side of an "=" for its expressions
PIECE = 1 << 16  # characters of text read at a time (cut at a blank line of prose)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Equation:
    """One claim "expression = number", evaluated exactly.

    ``verdict`` is 'ok' (computed == stated), 'wrong', 'unknown' when the expression
    uses symbols with no value (then ``computed`` and ``difference`` are None, and with
    exactly one unknown ``solution`` is the value that makes the claim hold, if any), or
    'cannot evaluate' when it parses but has no exact value: ``reason`` says why (a
    division by zero, a value too large, digits grouped by spaces, an expression too long);
    ``computed``, ``difference`` and ``solution`` are None.
    """

    line: int  # 1-based line of the expression's first character
    expression: str  # the left side as written (labels included)
    stated: Fraction  # the number as written on the other side
    computed: Fraction | None
    unknowns: tuple[str, ...]  # symbols with no value, in order of appearance
    solution: Fraction | None
    verdict: str  # 'ok' | 'wrong' | 'unknown' | 'cannot evaluate'
    difference: Fraction | None  # stated - computed
    stated_text: str = ""  # the stated number's source text, e.g. "1,605,632"
    bindings: tuple[tuple[str, Fraction], ...] = ()  # learned symbol values it used
    span: tuple[int, int] = (0, 0)  # character offsets of the expression in the text
    # why it cannot be evaluated (verdict 'cannot evaluate' only), as data: a key of
    # report.REASONS ("division-by-zero", ...) and the facts its English names
    reason_code: str = ""
    reason_facts: tuple[tuple[str, object], ...] = ()
    # The stated number compared at its written precision ("124M", "7.92", "≈ 21"): 'ok' when
    # the computed value rounds to it, i.e. |difference| <= precision / 2. None: exactly.
    precision: Fraction | None = None
    approximate: bool = False  # stated with ≈, ~, \approx or \sim rather than =
    holds_for_any: bool = False  # 'unknown' with one unknown that any value satisfies
    # "67 + 8.4 = 75.4M": a side with no magnitude, read in the unit of the stated one (10^6);
    # then ``computed`` is in that unit and ``difference`` is stated - computed x 10^scale
    scale: int = 0
    # "= 1.07 GB" of a count of bytes, "≈ 21 days" of seconds: the stated number's unit in
    # bytes (10^9 or 2^30) or seconds (86,400) when the side counts those (or the same unit
    # a bigger or smaller size); then ``difference`` is stated x unit - the side in that base
    unit: int = 1
    unit_name: str = ""  # that unit as written ("GB", "days")
    defined_later: tuple[str, ...] = ()  # symbols whose definition comes after the equation
    # "327,680 = 0.33MB x 131072 = 42.95GB": the expression's first number restates the
    # chain's number before it, rounded, and is read as that exact value (in its own unit):
    # (the number as written, the value read); then ``computed`` is from that value
    carried: tuple[str, Fraction] | None = None

    @property
    def reason(self) -> str:
        """Why it cannot be evaluated, in words (report.reason_text); empty otherwise."""
        if not self.reason_code:
            return ""
        from .report import reason_text

        return reason_text(self.reason_code, **dict(self.reason_facts))


@dataclass(frozen=True)
class Binding:
    """A definition "name = number" (also "name = expression = number")."""

    line: int
    name: str
    value: Fraction


@dataclass(frozen=True)
class ShapeEquality:
    """A tuple equality such as ``(b, 128, 768) = (b, 128, 64, 12)``.

    Entries are Fractions where they evaluate to a number, else their text (labels unwrapped).
    """

    line: int
    left: tuple[Fraction | str, ...]
    right: tuple[Fraction | str, ...]

    @property
    def same_size(self) -> bool | None:
        """Whether both shapes hold as many elements (None when their symbolic entries differ)."""
        names = [sorted(e for e in side if isinstance(e, str)) for side in (self.left, self.right)]
        if names[0] != names[1]:
            return None
        left, right = ([e for e in side if isinstance(e, Fraction)] for side in (self.left, self.right))
        return math.prod(left) == math.prod(right)


@dataclass(frozen=True)
class Identity:
    """A symbolic identity "expression = expression" whose sides are in unknowns (no value
    in the text), e.g. ``2·d·3d = 6d^2``: both sides as exact rational functions of them.

    ``verdict`` is 'ok' when the sides are the same function (for every value of the
    unknowns), 'wrong' when they are not (and both sides use the same unknowns), 'unknown'
    when they are not and either the sides use different unknowns (then the identity holds
    only for some of their values: ``unknowns`` are the symbols on one side only) or it is
    stated with ≈ (then it holds only where ``difference`` is negligible), or a name is
    written as a function (``applied``: big-O, a recurrence). ``difference`` is
    left − right, written out ("4·b·s^2·h"; "" when 0); ``tight`` says the sides held only
    with an implicit product after "/" read as part of the divisor (``s/6h`` as s/(6h)).
    """

    line: int
    expression: str  # the left side as written
    stated_text: str  # the right side as written
    verdict: str  # 'ok' | 'wrong' | 'unknown'
    unknowns: tuple[str, ...]  # the symbols of both sides ('unknown': of one side only)
    difference: str
    approximate: bool = False
    tight: bool = False
    span: tuple[int, int] = (0, 0)
    bindings: tuple[tuple[str, Fraction], ...] = ()  # learned symbol values it used
    # 'unknown' because a name is written as a function, O(n^2), T(n/2): not a product
    applied: tuple[str, ...] = ()
    split: bool = False  # the verdict's reading took "Ld" as L·d (names split into letters)


@dataclass(frozen=True)
class Analysis:
    """What ``analyse`` reads in a text: its equations, definitions and identities."""

    equations: list[Equation]
    bindings: list[Binding]
    identities: list[Identity]
    # "expression = expression" in unknowns left unchecked: the text's budget of term
    # products (IDENTITY_BUDGET) was spent before them
    identities_skipped: int = 0


class ExpressionError(ValueError):
    """An expression that does not parse, or has no exact value (an unknown, a division by
    zero, a value too large)."""


@dataclass(frozen=True, eq=False)
class Expression:
    """One expression read by ``parse_expression`` (or a part of one: a term, a factor)."""

    text: str  # its source text, labels between factors included ("128 tokens × 768")
    symbols: tuple[str, ...]  # its symbols, each once, in order of appearance
    tree: tuple = field(repr=False)
    scan: _Scan = field(repr=False)
    tokens: tuple[int, int] = field(repr=False)  # scan.toks[first:end] are its tokens

    def unknowns(self, bindings: Mapping | None = None) -> tuple[str, ...]:
        """Its symbols that ``bindings`` gives no value."""
        return tuple(s for s in self.symbols if s not in (bindings or {}))


def analyse(text: str, code: bool = False, on_piece=None) -> Analysis:
    """The text's equations, definitions and symbolic identities, read in one pass; fenced
    code blocks (```` ``` ```` or ``~~~``) are not prose and are skipped unless ``code``.
    ``on_piece(scan)`` is called with each piece read, for another reader of the same tokens
    (the figure check)."""
    return _analyse(text, code, on_piece)


def find_equations(text: str, code: bool = False) -> list[Equation]:
    """Every "expression = number" claim in ``text``, in order of appearance; fenced code
    blocks (```` ``` ```` or ``~~~``) are not prose and are skipped unless ``code``."""
    return _analyse(text, code).equations


def find_identities(text: str, code: bool = False) -> list[Identity]:
    """Every "expression = expression" whose sides are in unknowns, checked as an identity."""
    return _analyse(text, code).identities


def fenced_code_blocks(text: str) -> list[tuple[int, int]]:
    """The (start, end) offsets of the text's fenced code blocks, which ``find_equations``
    skips."""
    return list(_code_blocks(text))


def find_bindings(text: str, code: bool = False) -> list[Binding]:
    """The symbol definitions ("h = 12") that ``find_equations`` learns, in order."""
    return _analyse(text, code).bindings


def find_shape_equalities(text: str, code: bool = False) -> list[ShapeEquality]:
    """Every equality between two comma-separated tuples, e.g. tensor shapes."""
    return [shape for scan in _Scan.pieces(text, code) for shape in _shape_equalities(scan)]


def _shape_equalities(scan: _Scan) -> Iterator[ShapeEquality]:
    for e, tok in enumerate(scan.toks):
        if tok.kind != "EQ":
            continue
        before = scan.prev_sig(e)
        after = scan.next_sig(e + 1, len(scan.toks))
        if before is None or after >= len(scan.toks) or scan.toks[after].kind != "OPEN":
            continue
        opener, closer = scan.match[before], scan.match[after]
        if scan.toks[before].kind != "CLOSE" or opener is None or closer is None:
            continue
        left, right = scan.tuple_items(opener, before), scan.tuple_items(after, closer)
        if left and right and (len(left) > 1 or len(right) > 1):
            yield ShapeEquality(scan.line_of(scan.toks[opener].start), left, right)


# --------------------------------------------------------------------------- one expression


def parse_expression(text: str) -> Expression:
    """Read ``text`` as one expression (math: names are symbols, "x" is "times")."""
    toks: list[_Tok] = []
    _Lexer(text, 0, len(text), True, toks, expression=True).run()
    if len(toks) > WINDOW:  # the trees are recursive: a longer one is refused, not misread
        raise ExpressionError(f"cannot read {_brief(text)!r}: longer than {WINDOW} tokens")
    scan = _Scan(text, toks)
    parser = _Parser(scan, 0, len(toks))
    try:
        tree = parser.expression()
    except _ParseError as e:
        raise ExpressionError(f"cannot read {_brief(text)!r}: {e}") from None
    rest = scan.next_sig(parser.i, len(toks))
    if rest < len(toks):
        raise ExpressionError(f"cannot read {_brief(text)!r}: unexpected "
                              f"{text[toks[rest].start:toks[rest].end]!r}")
    return _part(scan, tree, scan.next_sig(0, len(toks)), parser.i)


def evaluate(expression: str | Expression, bindings: Mapping | None = None) -> Fraction:
    """The exact value of an expression, its symbols taking their values from ``bindings``."""
    expr = _parsed(expression)
    unknown = expr.unknowns(bindings)
    if unknown:
        raise ExpressionError(f"no value for {', '.join(unknown)} in {expr.text!r}")
    try:
        return _value(expr.tree, _exact(bindings))
    except _Unevaluable as e:
        raise ExpressionError(f"{expr.text!r} has no exact value ({e})") from None


def solve(expression: str | Expression, bindings: Mapping | None,
          stated: int | Fraction) -> Fraction | None:
    """The value of the expression's one unknown (a symbol not in ``bindings``) that makes it
    equal ``stated``, as ``find_equations`` solves it (degree <= 2, a single positive root);
    None without exactly one unknown or exactly one such value."""
    expr = _parsed(expression)
    unknown = expr.unknowns(bindings)
    if len(unknown) != 1:
        return None
    return _solve(expr.tree, _exact(bindings), unknown[0], Fraction(stated))


def additive_terms(expression: str | Expression) -> list[tuple[int, Expression]]:
    """The terms of a sum as (+1 or -1, term); a bracketed sum among them is flattened:
    "a - (b + c)" gives (1, a), (-1, b), (-1, c). Anything else is one term (1, itself)."""
    expr = _parsed(expression)
    return _terms(expr.scan, *expr.tokens)


def factors(expression: str | Expression) -> list[tuple[str, Expression]]:
    """The factors of a product, bracketed or not, as ("*" or "/", factor); a sum or a lone
    factor is one factor ("*", itself)."""
    expr = _parsed(expression)
    scan, (first, end) = expr.scan, expr.tokens
    while _bracketed(scan, first, end):
        first, end = scan.next_sig(first + 1, end), end - 1
    parser = _Parser(scan, first, end)
    out = [(op, _part(scan, tree, a, b)) for op, tree, a, b in parser.factors()]
    return out if scan.next_sig(parser.i, end) == end else [("*", expr)]


def _brief(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _parsed(expression: str | Expression) -> Expression:
    return parse_expression(expression) if isinstance(expression, str) else expression


def _exact(bindings: Mapping | None) -> dict[str, Fraction]:
    return {name: Fraction(v) for name, v in (bindings or {}).items()}


def _part(scan: _Scan, tree: tuple, first: int, end: int) -> Expression:
    """The Expression of tokens first..end-1 (parsed as ``tree``)."""
    text = scan.text[scan.toks[first].start:scan.toks[end - 1].end]
    return Expression(text, tuple(_symbols(tree)), tree, scan, (first, end))


def _bracketed(scan: _Scan, first: int, end: int) -> bool:
    """Whether tokens first..end-1 are one bracket group: "(a + b)"."""
    return scan.toks[first].kind == "OPEN" and scan.match[first] == end - 1


def _terms(scan: _Scan, first: int, end: int, sign: int = 1) -> list[tuple[int, Expression]]:
    out = []
    for op, tree, a, b in _Parser(scan, first, end).summands():
        s = sign if op == "+" else -sign
        inner = _terms(scan, scan.next_sig(a + 1, b), b - 1, s) if _bracketed(scan, a, b) else []
        out += inner if len(inner) > 1 else [(s, _part(scan, tree, a, b))]
    return out


# --------------------------------------------------------------------------- tokens


class _Tok(NamedTuple):  # a tuple: made in C when made in bulk (``_Lexer.plain_words``)
    kind: str  # NUM IDENT OP OPEN CLOSE FRAC EQ LABEL SEP BLOCK
    text: str  # operator (+ - * / ^), identifier name, bracket family, or source text
    start: int
    end: int
    value: Fraction | None = None  # NUM only; None when too large to use
    math: bool = False  # inside $...$ (adjacent symbols multiply)
    spaced: bool = True  # something (whitespace, a region edge) right before it
    fresh: bool = False  # a line break or a math delimiter right before it
    grouped: Fraction | None = None  # NUM "12 000": digit groups split by spaces (value None)
    step: Fraction | None = None  # NUM written rounded ("124M", "7.92"): its last digit's unit
    shift: int = 0  # NUM with a magnitude: its power of ten ("124M": 6)


_new_tuple = tuple.__new__

_MATH_OPEN = re.compile(
    r"\\\$|\$\$|\$|\\\[|\\\(|\\begin\{(?:equation|align|gather|multline|eqnarray|displaymath)\*?\}")
# pandoc's rule: "$5 and $6" is no math; nor is "/$" ("2Gb/$", "tokens/$": per dollar)
_INLINE_CLOSE = re.compile(r"(?<![\s\\/])\$(?![0-9])")
_NUMBER = re.compile(
    r"""(?: (?: \d{1,3} (?: (?: , | \{,\} | \\, | [\u2009\u202f_] ) \d{3} (?!\d) )+ | \d+ )
            (?: \.\d+ )?
          | \.\d+ )
        (?: [eE] [+-]? \d{1,6} (?!\d) )?""",
    re.X | re.ASCII,  # only 0-9 are digits here (not ², not other scripts' digits)
)
_GROUP_SEPARATOR = re.compile(r"\{,\}|\\,|[,\u2009\u202f_]")
# "12 000": digit groups split by single (no-break) spaces; ambiguous with a list "128 256"
_SPACE_GROUPS = re.compile(r"[0-9]{1,3}(?:[ \u00a0][0-9]{3})+(?![0-9]|[.,][0-9])")
_COMMAND = re.compile(r"\\([A-Za-z]+)")
_LETTERS = re.compile(r"[A-Za-z\u0391-\u03a9\u03b1-\u03c9]+")
_WORD = re.compile(r"[A-Za-z\u0391-\u03a9\u03b1-\u03c9]+(?:['\u2019][A-Za-z]+)*")  # "model's"
_ALNUM = re.compile(r"[A-Za-z0-9]+")
_NAME = re.compile(r"[A-Za-z\u0391-\u03a9\u03b1-\u03c90-9]+")  # "BF16", "α1": a word and digits
_GREEK_COMPOUND = re.compile(r"[ \t]*([A-Za-z])(?![A-Za-z])")  # \epsilon d: one name
_DELIMITER = re.compile(r"\s*(\\[{}]|[()\[\]{}.])")  # after \left, \bigl ...
# the next line starts with "=" or "&=", or with "≈" or "\approx": it goes on with this one
_CONTINUES = re.compile(r"[ \t]*\n?[ \t&]*(?:=(?!=)|\u2248|\\approx(?![A-Za-z]))")
_OPERAND_KINDS = ("NUM", "IDENT")
_BLANK_LINE = re.compile(r"\n[ \t\r]*(?=\n)")
_NEWLINE = re.compile("\n")
# A magnitude after a number: glued ("124M", "8k"), or in prose after a space ("1.2 T");
# the words also after a space ("3.3 billion"). Never before a letter: "2 MB", "3 Mi" are not.
# "2T(n/2)" is 2·T(n/2); "2Gb" is 2 gigabits (a magnitude before the bits)
_MAGNITUDE = re.compile(r"([kKMGBT])(?:b(?:its?)?)?(?![A-Za-z0-9_(])")
_BYTES_NUMBER = re.compile(r"(?<![0-9.,])[0-9]{4,}B(?![A-Za-z0-9_])")  # "8192B": bytes
# a size in bytes stated equal to the number just after "B", or just before it ("= 33 KB")
_SIZE_AFTER = re.compile(r"[ \t]*\n?[ \t&]*(?:=|\u2248|\\approx)[ \t~]*[0-9][0-9.,]*[ \t]*"
                         r"(?:[KMGTP]i?B|bytes?)(?![A-Za-z])")
_SIZE_BEFORE = re.compile(r"(?:[0-9][ \t]*[KMGTP]i?B|bytes?)[ \t]*\n?[ \t&]*(?:=|\u2248|\\approx)[ \t~]*$")
_MONEY_MAGNITUDE = re.compile(r"(m|bn)(?![A-Za-z0-9_(])")  # "$100m", "$1.5bn"
_SPACED_MAGNITUDE = re.compile(r"[ \u00a0]([MBT])(?![A-Za-z0-9_])(?![ \t]*(?:[*×·/^(+]|x\s))")
_SPACED_LETTER = re.compile(r"[ \u00a0]([MBT])(?![A-Za-z0-9_])")  # before an operator too
_GLUED_MAGNITUDE = {letter: re.compile(r"(?<![A-Za-z0-9_.,])[0-9][0-9.,]*" + letter
                                       + r"(?![A-Za-z0-9_(])") for letter in "MBT"}
# M, B or T on its own, after no number ("B = 8", "B × S", "(T)"): a symbol, not a magnitude
_LONE_LETTER = re.compile(r"(?<![A-Za-z0-9_.,\\])(?<![0-9][ \u00a0])([MBT])(?![A-Za-z0-9_])")
NEARBY = 256  # characters searched on either side, on the same line, for how a letter is used
_MAGNITUDE_WORD = re.compile(r"[ \u00a0](thousand|million|billion|trillion)(?![A-Za-z])")
_MAGNITUDES = {"m": 6, "bn": 9, "k": 3, "K": 3, "M": 6, "G": 9, "B": 9, "T": 12, "thousand": 3, "million": 6,
               "billion": 9, "trillion": 12}
_VULGAR = {"\u00bc": Fraction(1, 4), "\u00bd": Fraction(1, 2), "\u00be": Fraction(3, 4),
           "\u2153": Fraction(1, 3), "\u2154": Fraction(2, 3), "\u2155": Fraction(1, 5),
           "\u2159": Fraction(1, 6), "\u215b": Fraction(1, 8)}
_THEN_APPROX = re.compile(r"[ \t]*[~\u2248\u2243]")
_APPROX_NUMBER = re.compile(r"[ \t]?[0-9.]")
_PERCENT_OF = re.compile(r"[ \t]+(of)[ \t]+(?=[0-9(])")  # "50% of 1,000": a product
_NEXT_FACTOR = re.compile(r"[ \t]+[0-9(]")
_EMPHASIZED_NUMBER = re.compile(r"[0-9][0-9,.]*\*[ \t]+[0-9(]")  # "3* 102,400" after "*"
_ONE_LETTER = re.compile(r"[A-Za-z](?![A-Za-z0-9'\u2019])")
_SUPERSCRIPTS = "\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079"
_SUPERSCRIPT_DIGITS = str.maketrans(_SUPERSCRIPTS + "\u207b", "0123456789-")
_SUPERSCRIPT_RUN = re.compile("\u207b?[" + _SUPERSCRIPTS + "]+")
_COMPOUND_WORD = re.compile(r"[A-Za-z]{2,}")
_LETTER_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                          + "".join(map(chr, range(0x391, 0x3aa)))
                          + "".join(map(chr, range(0x3b1, 0x3ca))))  # _LETTERS, as a set
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})([^\n]*)$", re.M)  # a fenced code block's line
_ROOT_FUNCTIONS = {"sqrt": Fraction(2), "cbrt": Fraction(3)}  # a ROOT token's value: its index
_ROOT_SIGNS = {"\u221a": Fraction(2), "\u221b": Fraction(3), "\u221c": Fraction(4)}  # √ ∛ ∜
_FUNCTIONS = {"sqrt", "cbrt", "log", "ln", "exp", "log2", "log10", "min", "max", "ceil", "floor"}
_UNIT_WORD = re.compile(r"[ \t]?(?:[A-Za-z]{2,}|s)(?![A-Za-z0-9_(])")  # after "FLOP/"
_GLUED_ON = re.compile(r"[\^_A-Za-z0-9(]")  # "2s^2", "3s_1": then "s" is a symbol
# what may follow a symbol "s" (a product goes on): then "= 12 s" is no duration
_AFTER_SECONDS = re.compile(r"[ \t]*(?:[*\u00d7\u00b7/^(+\-=0-9_]|[A-Za-z](?![A-Za-z]))")
# "= 21 days", "≈ 5.8 hours": after "s" that follows a number, what makes it seconds
_THEN_DURATION = re.compile(
    r"[ \t]*(?:=|\u2248|~|\\approx|\\sim)[ \t~]*[0-9][0-9.,]*(?:[eE][+-]?[0-9]+)?[ \t]*"
    r"(?:seconds?|secs?|s|minutes?|mins?|hours?|hrs?|h|days?|weeks?|years?)(?![A-Za-z])")
_SHORT_FRAC = re.compile(r"\s*([0-9])([0-9])")  # \frac12
# an arrow: "→", "⟶", "->", "\to", "\rightarrow"; ``_ARROWS`` the texts of its break token
_ARROW_TO_NUMBER = re.compile(
    r"[ \t]*(?:\u2192|\u27f6|->|\\to(?![A-Za-z])|\\(?:long)?rightarrow)[ \t]*[0-9.]")
_ARROWS = {"\u2192", "\u27f6", "to", "rightarrow", "longrightarrow"}
_LABEL_WRAPPER = re.compile(
    r"\\(?:text\w*|math(?:rm|bf|it|sf|tt)|operatorname|mbox)\s*\{([^{}]*)\}")

_DIGITS = "0123456789"
_SPACE = " \t\r\f\v\u00a0\u2002\u2003\u2009\u202f&`"  # & aligns, ` marks inline code
_PROSE_SPACES = re.compile("[" + re.escape(_SPACE) + "]+")
_MATH_SPACES = re.compile("[" + re.escape(_SPACE) + "\n~]+")  # in math, line breaks too
# A run of prose words that are labels and nothing else: two or more letters, not followed
# by what makes a name ("BF16", d_model, d\_model), a function ("sqrt(") or "model's"
_RUN_WORD = re.compile(r"[A-Za-z\u0391-\u03a9\u03b1-\u03c9]{2,}")
_PLAIN_WORDS = re.compile(  # possessive (++, *+): a word given back is never a match here
    r"(?:[A-Za-z\u0391-\u03a9\u03b1-\u03c9]{2,}+(?![A-Za-z\u0391-\u03a9\u03b1-\u03c9'\u20190-9_\\(]))"
    r"(?:[ \t]++[A-Za-z\u0391-\u03a9\u03b1-\u03c9]{2,}+(?![A-Za-z\u0391-\u03a9\u03b1-\u03c9'\u2019"
    r"0-9_\\(]))*+")
_PLAIN_BREAKS = ",.;:?|#"  # punctuation that is a break and nothing else (not "." before a digit)
# Prose words between two breaks: words of two or more letters ("decoder-only", "model's")
# and "a", "A", "I", apart by blanks, then a break. Each would be a label and nothing else,
# and between two breaks outside every bracket no expression, unit or remark can see them:
# such a stretch makes no tokens (``_Lexer.skip_words``), the break after it does.
_INERT_WORDS = re.compile(  # atomic, possessive: each word has one reading, so none to try;
    # a word of letters alone first (most are), read without a group repeated inside it
    r"(?:[ \t\r]*+(?>[A-Za-z]{2,}+(?=[ \t\r,.;:?\n])|[A-Za-z]{2,}(?:-[A-Za-z]{2,})*"
    r"(?:['\u2019][A-Za-z]+)*(?=[ \t\r,.;:?\n])|[aAI](?=[ \t\r,.;:?\n])))++[ \t\r]*+(?=[,.;:?\n])")
_INERT_START = frozenset(" \t\rABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")  # of a match
# after a whole number: a percent, a magnitude, or a space before digits or a magnitude
_NUMBER_FOLLOWERS = "%\\kKMGBT \u00a0"
_SPACED_FOLLOWERS = _DIGITS + "MBTtmb"
# One step of ``_Lexer.run``: the spacing before a token, then the token when it is of a
# kind that needs no look at the tokens before it (most of any text), as the rest of
# ``_Lexer`` would read it: "num" a whole number with no magnitude, percent or digit group
# after it (``_Lexer.number``'s first case), "words" a run of prose labels
# (``_Lexer.plain_words``), "word" a math name with no subscript (``_Lexer.identifier``),
# "sym" an operator, bracket, "=" or break (``_STEP_SYMBOLS``). No group: ``_Lexer.step``
# reads what comes.
_WHOLE_NUMBER = (
    r"(?>[0-9]{1,3}(?:(?:,|\{,\}|\\,|[\u2009\u202f_])[0-9]{3}(?![0-9]))+|[0-9]+)"  # _NUMBER's
    r"(?!\.[0-9]|[eE][+-]?[0-9]{1,6}(?![0-9]))"  # no decimals, no exponent
    r"(?![%\\kKMGBT]|[ \u00a0](?![^0-9MBTtmb]))")  # _NUMBER_FOLLOWERS, _SPACED_FOLLOWERS
_EQUALS = r"(?<![<>!:+\-*/])=(?![=>]|[ \t]*[~\u2248\u2243])"  # not "==", "<=", "= ~6" (``symbol``)
# "x" between a number or a bracket and a digit, "(" or a one-letter name ("3 x 128"): a
# product when the token before it is a NUM or CLOSE (``_Lexer.word``)
_TIMES_X = (r"[xX](?![A-Za-z\u0391-\u03a9\u03b1-\u03c9'\u2019])"
            r"(?=[ \t]*+(?:[0-9(]|[A-Za-z](?![A-Za-z0-9'\u2019])))")
_TIMES_SIGN = r"[\u00d7\u00b7\u22c5\u2219]|\\(?:times|cdot|ast)(?![A-Za-z])"
_MATH_STEP = re.compile(  # the commonest kind first
    "[" + re.escape(_SPACE) + "\n~]*+"
    r"(?:(?P<sym>(?=[^0-9A-Za-z])(?:" + _EQUALS + "|" + _TIMES_SIGN + r"|\*\*|[-+\u2212*/\u00f7^()\[\]{},;:?|#]"
    r"|\.(?![0-9])))"
    r"|(?P<num>(?=[0-9])(?:(?<!\$)" + _WHOLE_NUMBER + "|" + _WHOLE_NUMBER + "(?![mb])))"  # not "$1bn"
    r"|(?P<x>" + _TIMES_X + ")"
    r"|(?P<word>[A-Za-z\u0391-\u03a9\u03b1-\u03c9]++(?!_|\\_)))?")
_PROSE_STEP = re.compile(
    "[" + re.escape(_SPACE) + "]*+"
    r"(?:(?P<sym>(?=[^0-9A-Za-z])(?:" + _EQUALS + "|" + _TIMES_SIGN + r"|[\^()\[\]{};:?#]|\.(?![0-9])"
    r"|(?<=[-|(\[{=+*/^,.:;<>])-"  # no hyphen: after no letter or digit (``symbol``)
    r"|(?:(?<=[^ \t\n])|(?<=[^ \t\n][ \t]))[+\u2212]"  # not at a line's start: no bullet
    r"|,(?![A-Za-z](?:\^|_\{))"  # not "(5+8),d^{2}" (``_LOST_THIN_SPACE``)
    r"|\|(?![ \t]*(?:=|\u2248|~|\\approx)[ \t~]*[0-9(A-Za-z])"  # not a cell (``_CELL_RELATION``)
    r"|\n(?![ \t&]*(?:=(?!=)|\u2248|\\approx(?![A-Za-z])))))"  # not a line that goes on
    r"|(?P<words>(?=[A-Za-z\u0391-\u03a9\u03b1-\u03c9]{2})(?<![0-9])" + _PLAIN_WORDS.pattern + ")"
    r"|(?P<num>(?=[0-9])(?:(?<![$\-])" + _WHOLE_NUMBER + "|(?<=\\$)" + _WHOLE_NUMBER
    + "(?![mb])))"
    r"|(?P<x>" + _TIMES_X + ")"
    r"|(?P<bullet>(?=[-+\u2212*])(?<![^\n])[-+\u2212*](?![^ \t])))?")  # at a line's start, before a blank
_STEP_SYMBOLS = {c: ("OP", "*") for c in ("\u00d7", "\u00b7", "\u22c5", "\u2219", "\\times",
                                          "\\cdot", "\\ast", "*")}
_STEP_SYMBOLS.update({"=": ("EQ", "="), "**": ("OP", "^"), "^": ("OP", "^"), "+": ("OP", "+"),
                      "-": ("OP", "-"), "\u2212": ("OP", "-"), "/": ("OP", "/"),
                      "\u00f7": ("OP", "/"), "(": ("OPEN", "("), "[": ("OPEN", "["),
                      "{": ("OPEN", "{"), ")": ("CLOSE", "("), "]": ("CLOSE", "["),
                      "}": ("CLOSE", "{")})
_STEP_SYMBOLS.update({c: ("SEP", c) for c in ",;:?|#.\n"})
_TIMES = {"times", "cdot", "ast"}
_FRACS = {"frac", "dfrac", "tfrac", "cfrac"}
_LABELS = {"text", "textbf", "textit", "textrm", "textsf", "texttt", "textnormal", "mathrm",
           "mathbf", "mathit", "mathsf", "mathtt", "mathcal", "operatorname", "mbox", "hbox",
           "emph", "label", "tag"}
_IGNORED = {"left", "right", "middle", "big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl",
            "Bigr", "biggl", "biggr", "Biggl", "Biggr", "displaystyle", "textstyle",
            "scriptstyle", "limits", "nolimits", "nonumber", "notag", "boxed", "underbrace",
            "overbrace", "mathopen", "mathclose"}
_SIZED = {"left", "right", "middle"} | {n for n in _IGNORED if n.lower().startswith("big")}
_GREEK = set("alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa "
             "lambda mu nu xi omicron pi rho varrho sigma varsigma tau upsilon phi varphi chi "
             "psi omega Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega ell".split())
# Commands that end a claim (the next one may start right after); any other unknown
# command (\sqrt, \log, \sum, \cdots ...) is a BLOCK: no claim starts or ends next to it,
# so "\sqrt{4} \times 3 = 6" is not misread as "4 \times 3 = 6".
_BREAKS = {"quad", "qquad", "newline", "to", "rightarrow", "Rightarrow", "longrightarrow",
           "Longrightarrow", "leftarrow", "Leftarrow", "gets", "implies", "iff", "mapsto",
           "cong", "le", "leq", "ge", "geq", "lt", "gt", "ne", "neq",
           "equiv", "in", "colon", "mid"}
# Unit words that stay labels even inside math ($2 FLOPs$); other math words are symbols.
_ORDINALS = {"st", "nd", "rd", "th"}
_UNITS = {"flop", "flops", "token", "tokens", "param", "params", "parameters", "byte", "bytes",
          "bits", "embedding", "embeddings", "head", "heads", "layer", "layers", "block",
          "blocks", "dims", "dimensions", "ops", "mac", "macs", "multiplications", "additions"}


_LITERALS: dict[str, Fraction | None] = {}  # short literals read so far, with their value
_WHOLE_LITERAL = re.compile(r"[0-9]+(?:(?:,|\{,\}|\\,|[\u2009\u202f_])[0-9]+)*")  # no . or e


def _number_value(literal: str) -> Fraction | None:
    """The exact value of a number literal, or None when it is too large to use."""
    if len(literal) > 40:
        return _literal_value(literal)
    value = _LITERALS.get(literal, _LITERALS)  # the same few figures recur in a text
    if value is _LITERALS:
        value = _literal_value(literal)
        if len(_LITERALS) < 65536:  # Fractions are immutable: one may serve every token
            _LITERALS[literal] = value
    return value


def _literal_value(literal: str) -> Fraction | None:
    if literal.isdigit() and len(literal) <= MAX_DIGITS:  # the common case, made fast
        value = Fraction(int(literal))
        return value if _small(value) else None
    mantissa, _, exponent = _GROUP_SEPARATOR.sub("", literal).lower().partition("e")
    whole, _, decimals = mantissa.partition(".")
    power = (int(exponent) if exponent else 0) - len(decimals)
    if len(whole) + len(decimals) > MAX_DIGITS or abs(power) > MAX_EXPONENT:
        return None
    value = int(whole + decimals) * Fraction(10) ** power
    return value if _small(value) else None


def _brace_end(text: str, i: int, end: int, limit: int = 300) -> int:
    """Index after the "}" matching the "{" at ``i`` (within ``limit`` chars), or -1."""
    depth, j, stop = 0, i, min(end, i + limit)
    while j < stop:
        c = text[j]
        if c == "\\":
            j += 2
            continue
        depth += (c == "{") - (c == "}")
        j += 1
        if depth == 0:
            return j
    return -1


def _code_blocks(text: str) -> Iterator[tuple[int, int]]:
    """The (start, end) of each fenced code block: from its opening fence line to the end of
    its closing one (or of the text, when it is never closed)."""
    opening = None
    for m in _FENCE.finditer(text):
        fence = m.group(1)
        if opening is None:
            if not (fence[0] == "`" and "`" in m.group(2)):  # a backtick fence's info string
                opening = (m.start(), fence)                 # has no backtick
        elif (fence[0] == opening[1][0] and len(fence) >= len(opening[1])
              and not m.group(2).strip()):
            yield opening[0], m.end()
            opening = None
    if opening is not None:
        yield opening[0], len(text)


def _regions(text: str, code: bool = True) -> Iterator[tuple[int, int, bool]]:
    """Split ``text`` into (start, end, is_math) spans; math delimiters fall between them,
    and so do fenced code blocks unless ``code``."""
    start = 0
    for block_start, block_end in () if code else _code_blocks(text):
        yield from _span_regions(text, start, block_start)
        start = block_end
    yield from _span_regions(text, start, len(text))


def _span_regions(text: str, plain_from: int, stop: int) -> Iterator[tuple[int, int, bool]]:
    """The regions of text[plain_from:stop]."""
    pos = plain_from
    missing: set = set()  # closers known to be absent from some point on (keeps this linear)
    while m := _MATH_OPEN.search(text, pos, stop):
        delim, body, close = m.group(), m.end(), -1
        if delim == "$" and text.startswith("/", m.start() - 1) and m.start():
            pos = body  # "tokens/$": a price, per dollar
            continue
        if delim == "$":  # inline math closes on the same line
            closer = text.find("\n", body, stop)  # the line's end
            closer = stop if closer < 0 else closer
            if body < stop and not text[body].isspace() and closer not in missing:
                c = _INLINE_CLOSE.search(text, body, closer)
                close, closer = (c.start(), "$") if c else (-1, closer)
                if c is None:
                    missing.add(closer)
        elif delim != "\\$":  # $$, \[, \(, \begin{equation} ...
            closer = {"$$": "$$", "\\[": "\\]", "\\(": "\\)"}.get(delim) or delim.replace("begin", "end")
            close = text.find(closer, body, stop) if closer not in missing else -1
            if close < 0:
                missing.add(closer)
        if close < 0:  # an escaped or unmatched delimiter is ordinary text
            pos = body
            continue
        yield plain_from, m.start(), False
        yield body, close, True
        plain_from = pos = close + len(closer)
    yield plain_from, stop, False


def _pieces(text: str, code: bool = True) -> Iterator[tuple[int, int, list]]:
    """The text's regions in pieces of about ``PIECE`` characters, each cut at a blank line
    of prose, which no claim, chain or expression crosses: the text is read one piece at a
    time, so memory stays bounded however long it is. Yields (start, end, regions): the
    pieces' spans cover the text."""
    piece: list[tuple[int, int, bool]] = []
    size = lo = 0
    for start, end, is_math in _regions(text, code):
        while not is_math and size + end - start > PIECE:
            cut = _BLANK_LINE.search(text, max(start, start + PIECE - size), end)
            if cut is None:
                break
            piece.append((start, cut.end(), False))  # up to the blank line's last "\n"
            yield lo, cut.end(), piece
            piece, size, start = [], 0, cut.end()
            lo = start
        piece.append((start, end, is_math))
        size += end - start
    yield lo, len(text), piece


# after a glued comma, a power or subscript written in LaTeX: "13,d^{2}", "2,n_{h}"
_LOST_THIN_SPACE = re.compile(r"[A-Za-z](?:\^|_\{)")
_PER_UNIT = re.compile(r"/([A-Za-z]{2,})(?![A-Za-z])")  # "s/day"
_CELL_RELATION = re.compile(r"[ \t]*(?:=|\u2248|~|\\approx)[ \t~]*[0-9(A-Za-z]")
_CELL_OPERATOR = re.compile(r"[\u00d7*+/\u00b7^\u00f7]|\\times|\\cdot")
_GOES_ON = re.compile(r"\s*(?:=|\\approx)")


def _tokenize(text: str, regions=None) -> list[_Tok]:
    toks: list[_Tok] = []
    after_math = False  # whether the last token that is not a label is in math
    lo = hi = None  # the span the regions cover: only there is "which is" looked for
    bytes_at = [0, -1, False]  # the line "B is bytes" was last read for (``bytes_line``)
    brackets = [0, []]  # the brackets left open by the tokens so far (``brackets_closed``)
    for start, end, is_math in _regions(text) if regions is None else regions:
        lo, hi = start if lo is None else lo, end
        # Math regions are never joined: "$\to l$ $-1 + 2 = 1$" is not "l - 1 + 2 = 1". An
        # operator written between them in prose does join them: "$h$ × $d$"; and so does
        # a short gap before a region that opens with "=" (``_continued``).
        cut = _continued(toks) if is_math and _GOES_ON.match(text, start, end) else None
        if cut is not None and cut >= 0:
            del toks[cut]  # the line break inside the equation
            brackets[0] -= brackets[0] > cut
        elif cut is None and is_math and after_math:
            toks.append(_Tok("SEP", "$", start, start, math=True))
        first = len(toks)
        _Lexer(text, start, end, is_math, toks, bytes_at=bytes_at, brackets=brackets).run()
        for k in range(len(toks) - 1, first - 1, -1):  # the region's last token not a label
            if toks[k].kind != "LABEL":
                after_math = toks[k].math
                break
    if lo is None or text.find("which", lo, hi) < 0:
        return toks
    return _worded_equals(text, toks, lo, hi)


JOIN_WORDS = 3  # prose words a math region that opens with "=" may follow the math before by


@functools.lru_cache(maxsize=8)
def _symbol_letters(text: str) -> frozenset[str]:
    """The letters M, B, T that ``text`` writes on their own somewhere (``_LONE_LETTER``)."""
    return frozenset(m.group(1) for m in _LONE_LETTER.finditer(text))


def _continued(toks: list[_Tok]) -> int | None:
    """Whether a math region that opens with "=" goes on with the math before it, the same
    equation continued: only a short gap lies between them, at most ``JOIN_WORDS`` words
    (a unit: "$\\tau = 312$ teraFLOPs $= 3.12 \\times 10^{14}$") and at most one line break
    (a line that ends mid-equation, the next that starts with "=": "$$a = 2 \\cdot 3$$" then
    "$$= 6$$"). More words, punctuation or a second line break are a break, as between
    any two math regions. (Prose that holds more than words, "$a$ is 2 × 3 $= 6$", is
    not looked at: the "=" goes on with the prose, as after any prose.) Returns the index
    of the line break to drop (-1 when none), or None when the region does not go on."""
    words, line_break = 0, -1
    for k in range(len(toks) - 1, max(-1, len(toks) - JOIN_WORDS - 3), -1):
        tok = toks[k]
        if tok.math:  # the math before
            return line_break if words <= JOIN_WORDS else None
        if tok.kind == "LABEL":
            words += 1
        elif tok.kind == "SEP" and tok.text == "\n" and line_break < 0:
            line_break = k
        else:
            return None
    return None


# "which" first (not "\\bwhich"): then it is searched for as a string, not at every character
_WHICH_IS = re.compile(r"which(?<!\wwhich)[ \t]+(?:is|equals)\b")
_token_start = attrgetter("start")
_WORDED_APPROX = {"about", "roughly", "approximately", "around", "nearly"}


def _worded_equals(text: str, toks: list[_Tok], lo: int, hi: int) -> list[_Tok]:
    """"…, which is 205B" states a value as "= 205B" does ("which is about 205B": ≈): the
    comma, "which" and "is" (or "equals") become one "=" when a number follows. Only the
    places the text says "which is" are looked at, between ``lo`` and ``hi`` (the span of
    the tokens' regions: a piece of a long text, never the whole of it again)."""
    out: list[_Tok] = []
    done, n = 0, len(toks)
    for m in _WHICH_IS.finditer(text, lo, hi):
        i = bisect.bisect_left(toks, m.start(), lo=done, key=_token_start)
        if i + 2 >= n or toks[i].start != m.start() or toks[i].kind != "LABEL" \
                or toks[i + 1].kind != "LABEL":
            continue
        j, sign = i + 2, "="
        if toks[j].kind == "LABEL" and toks[j].text in _WORDED_APPROX and j + 1 < n:
            j, sign = j + 1, "≈"
        if toks[j].kind != "NUM" or toks[j].fresh:
            continue
        first = i - 1 if i > done and toks[i - 1].kind == "SEP" and toks[i - 1].text == "," \
            else i
        out.extend(toks[done:first])
        out.append(_Tok("EQ", sign, toks[first].start, toks[j - 1].end, None, toks[i].math,
                        toks[first].spaced, toks[first].fresh))
        done = j
    if not done:
        return toks
    out.extend(toks[done:])
    return out


class _Lexer:
    """Turns one region of the text into tokens (appended to ``out``)."""

    def __init__(self, text: str, start: int, end: int, is_math: bool, out: list[_Tok],
                 expression: bool = False, bytes_at: list | None = None,
                 brackets: list | None = None):
        self.text, self.pos, self.end, self.math, self.out = text, start, end, is_math, out
        self.expression = expression  # one expression on its own: a lone "x" is always "times"
        self.region_start, self.first = start, True
        self.prefix: int | None = None  # where a skipped \boxed, \left ... began
        # [line start, line end, B is bytes there]: shared by the lexers of one text's
        # regions, so a long line is searched once, not once per region on it
        self.bytes_at = [0, -1, False] if bytes_at is None else bytes_at
        # [tokens read, the families of the brackets they leave open]: shared by the lexers
        # of one text's regions, as the brackets match across them (None: skip no words)
        self.brackets = brackets

    def emit(self, kind: str, start: int, end: int, text: str = "", value=None, step=None,
             shift: int = 0, grouped=None) -> None:
        if self.first:
            spaced = fresh = True
            self.first = False
        elif (prev_end := self.out[-1][3]) < start:  # the last token's end
            spaced, fresh = True, self.text.find("\n", prev_end, start) >= 0
        else:
            spaced = fresh = False
        if self.prefix is not None:
            start, self.prefix = self.prefix, None
        self.out.append(_new_tuple(_Tok, (kind, text, start, end, value, self.math, spaced,
                                          fresh, grouped, step, shift)))  # no __new__ call
        if end > self.pos:
            self.pos = end

    def run(self) -> None:
        text, stop, out, math = self.text, self.end, self.out, self.math
        scanner = (_MATH_STEP if math else _PROSE_STEP).scanner
        while self.pos < stop:
            read = scanner(text, self.pos, stop).match  # step after step from here
            while True:
                m = read()  # the spacing, and the token after it if plain
                kind = m.lastgroup
                if kind is None or self.prefix is not None:
                    pos = m.end() if kind is None else m.start(kind)
                    if pos == stop:
                        return
                    self.pos = pos
                    self.step(pos, text[pos])
                    break
                start, end = m.span(kind)
                value = None
                if kind == "sym":
                    tkind, ttext = _STEP_SYMBOLS[m.group(kind)]
                elif kind == "num":
                    tkind, ttext = "NUM", m.group(kind)
                    value = _LITERALS.get(ttext, _LITERALS)  # _number_value's, looked up here
                    if value is _LITERALS:
                        value = _number_value(ttext)
                elif kind == "words":
                    ttext = m.group(kind)
                    if " " in ttext or "\t" in ttext or (end == stop and text.startswith("(", end)):
                        if not self.labels(ttext, start, end):  # several words, or a function
                            self.pos = start
                            self.step(start, text[start])
                            break
                        continue
                    tkind = "LABEL"  # one word: as ``labels`` would emit it
                elif kind == "x":
                    if not out or out[-1][0] not in ("NUM", "CLOSE"):
                        self.pos = start
                        self.step(start, text[start])
                        break
                    tkind, ttext = "OP", "*"
                elif kind == "word":
                    ttext = m.group(kind)
                    if ttext in ("x", "X") or ttext in _ROOT_FUNCTIONS:  # "3 x 4", "sqrt(2)"
                        self.pos = start
                        self.step(start, text[start])
                        break
                    tkind = "LABEL" if ttext.lower() in _UNITS else "IDENT"
                else:  # "bullet"
                    tkind, ttext = "LABEL", m.group(kind)
                if self.first:  # what ``emit`` does
                    spaced = fresh = True
                    self.first = False
                elif (prev_end := out[-1][3]) < start:
                    spaced, fresh = True, text.find("\n", prev_end, start) >= 0
                else:
                    spaced = fresh = False
                out.append(_new_tuple(_Tok, (tkind, ttext, start, end, value, math, spaced, fresh,
                                             None, None, 0)))
                self.pos = end
                if tkind == "SEP" and not math and end < stop and text[end] in _INERT_START:
                    self.skip_words()
                    if self.pos != end:
                        break

    def step(self, pos: int, c: str) -> None:
        """Read the token at ``pos`` (not spacing), whose first character is ``c``."""
        text, stop, math = self.text, self.end, self.math
        if c in _DIGITS:  # the common kinds first: no other branch reads a digit
            self.number()
        elif c in _LETTER_CHARS:  # nor a letter
            if math or not self.plain_words(pos):
                self.word()
        elif c == "|" and not math and _CELL_RELATION.match(text, pos + 1, stop) \
                and self.expression_cell(pos):
            self.pos += 1  # "| 3 × d × d | ≈ 5 × d² |": a cell that opens with ≈ or =
            # states the value of the expression in the cell before it
        elif c == "," and not math and pos > self.region_start \
                and text[pos - 1] in _DIGITS + ")" and _LOST_THIN_SPACE.match(text, pos + 1, stop):
            self.emit("OP", pos, pos + 1, "*")  # "(5+8),d^{2}": a "\," that lost its "\"
        elif c in _PLAIN_BREAKS and (c != "." or pos + 1 >= stop
                                     or text[pos + 1] not in _DIGITS):
            self.emit("SEP", pos, pos + 1, c)  # punctuation (what ``symbol`` makes of it)
            if not math:
                self.skip_words()
        elif c == "\n" and not self.continues(pos):
            self.emit("SEP", pos, pos + 1, c)  # plain-text lines are separate claims
            self.skip_words()
        elif c == "\n":
            self.pos += 1  # the next line starts with "=": it goes on with this one
        elif c == "." and pos + 1 < self.end and text[pos + 1] in _DIGITS:
            self.number()
        elif c == "\\":
            self.command()
        else:
            self.symbol(c)

    def plain_words(self, pos: int) -> bool:
        """Emit a run of prose words of two or more letters, apart by blanks, that are labels
        and nothing else (the common case, made fast: ``word`` reads the rest, as it would
        these); False when the word at ``pos`` may be more."""
        text = self.text
        m = _PLAIN_WORDS.match(text, pos, self.end)
        if m is None or (pos > self.region_start and text[pos - 1] in _DIGITS):
            return False  # a symbol, a name ("BF16", d_model), glued to a number ("6ND")
        return self.labels(m.group(), pos, m.end())

    def labels(self, run: str, pos: int, end: int) -> bool:
        """Emit the words of ``run`` (a match of ``_PLAIN_WORDS`` from ``pos`` to ``end``) as
        labels; False (and nothing emitted) when its last word may be a function."""
        text = self.text
        if end == self.end and text.startswith("(", end):
            return False  # "sqrt" just before a region that opens with "(": ``word`` sees it
        out = self.out
        prev_end = out[-1].end if out else 0
        gap = prev_end < pos
        fresh = self.first or (gap and text.find("\n", prev_end, pos) >= 0)
        words = run.split()
        at = pos + len(words[0])
        out.append(_new_tuple(_Tok, ("LABEL", words[0], pos if self.prefix is None else self.prefix,
                                     at, None, False, self.first or gap, fresh, None, None, 0)))
        if len(words) > 1:
            if "\t" in run or "  " in run:  # blanks of other widths
                starts = [w.start() for w in _RUN_WORD.finditer(text, at, end)]
            else:  # one space apart: each word starts one after the last one's end
                starts = list(accumulate((len(w) + 1 for w in words[:-1]), initial=pos))[1:]
            # after a blank, on the same line: spaced, not fresh (tuples made in C)
            out.extend(map(_new_tuple, repeat(_Tok), zip(
                repeat("LABEL"), words[1:], starts, map(add, starts, map(len, words[1:])),
                repeat(None), repeat(False), repeat(True), repeat(False), repeat(None),
                repeat(None), repeat(0))))
        self.pos, self.first, self.prefix = end, False, None
        return True

    def skip_words(self) -> None:
        """After a break in prose: skip the prose words up to the next break (``_INERT_WORDS``)
        and emit that break, as long as such stretches follow. Their labels would change no
        reading: expressions, units and a number's next word stop at a break; only inside a
        bracket group (a remark, a tuple) are its words read, so none may be open."""
        text, stop, out = self.text, self.end, self.out
        while (m := _INERT_WORDS.match(text, self.pos, stop)) and self.prefix is None:
            at = m.end()  # the break: a SEP as ``run`` would emit it (not ".5", not "\n=")
            c = text[at]
            if (c == "." and at + 1 < stop and text[at + 1] in _DIGITS) or (
                    c == "\n" and self.continues(at)) or not self.brackets_closed():
                return
            out.append(_new_tuple(_Tok, ("SEP", c, at, at + 1, None, False,
                                         text[at - 1] in " \t\r", False, None, None, 0)))
            self.pos = at + 1

    def continues(self, pos: int) -> bool:
        """Whether the line break at ``pos`` is inside an equation: the next line starts with
        "=" or "≈" (``_CONTINUES``) and this one ends inside an expression, after an operator,
        a relation, a bracket or an operand of one (units after it aside), or on a name after
        a break ("Cost: C" then "≈ 6 × 2"): "2 x 3" then "≈ 6"; not on a number in prose
        ("a batch of 32" then "≈ 6 GB of activations")."""
        if _CONTINUES.match(self.text, pos, self.end) is None:
            return False
        out, k = self.out, len(self.out) - 1
        while k >= 0 and out[k].kind == "LABEL":
            k -= 1
        if k < 0 or out[k].kind not in _OPERAND_KINDS:
            return k >= 0 and out[k].kind in ("OP", "EQ", "CLOSE")
        if k == 0 or out[k - 1].kind == "SEP":
            return out[k].kind == "IDENT"
        return out[k - 1].kind in _OPERAND_KINDS + ("OP", "EQ", "CLOSE")

    def brackets_closed(self) -> bool:
        """Whether every bracket the tokens so far open is closed, matched as ``_Scan``
        matches them (a closer of another family closes nothing)."""
        if self.brackets is None:
            return False
        read, still_open = self.brackets
        new = self.out[read:]
        if still_open or "OPEN" in map(_KIND, new):  # only the brackets are looked at
            for tok in compress(new, map(_BRACKET_KINDS.__contains__, map(_KIND, new))):
                if tok[0] == "OPEN":
                    still_open.append(tok[1])
                elif still_open and still_open[-1] == tok[1]:
                    still_open.pop()
        self.brackets[0] = len(self.out)
        return not still_open

    def number(self) -> None:
        pos, text = self.pos, self.text
        m = _NUMBER.match(text, pos, self.end)
        end, literal = m.end(), m.group()
        if (literal.isdigit() or _WHOLE_LITERAL.fullmatch(literal)) and (end >= self.end or text[end] not in _NUMBER_FOLLOWERS or (
                text[end] in " \u00a0" and end + 1 < self.end
                and text[end + 1] not in _SPACED_FOLLOWERS)) and not (
                    not self.math and text[pos - 1:pos] == "-" and self.hyphenated(pos)) and text[pos - 1:pos] != "$":
            # a whole number ("768", "12,288") with no magnitude, percent or digit group
            # after it (the common case, made fast: what the rest of this method emits)
            value = _LITERALS.get(literal, _LITERALS)  # _number_value's, looked up here
            self.emit("NUM", pos, end, literal,
                      _number_value(literal) if value is _LITERALS else value)
            return
        value = _number_value(literal)
        if not self.math and self.hyphenated(pos):  # "GPT-2", "Llama-3.1": part of a name
            self.emit("LABEL", pos, end, m.group())
            return
        spaced = None if self.expression else _SPACE_GROUPS.match(self.text, pos, self.end)
        if spaced and m.group().isdigit() and spaced.end() > end:
            # "12 000" is one number written with spaces, or "12" and "000": not a value
            digits = re.sub(r"\D", "", spaced.group())
            self.emit("NUM", pos, spaced.end(), spaced.group(), grouped=Fraction(int(digits)))
            return
        for percent in ("%", "\\%"):  # 50% is 1/2
            if self.text.startswith(percent, end) and end + len(percent) <= self.end:
                end += len(percent)
                value = value / 100 if value is not None else None
                decimals = len(m.group().partition(".")[2])
                step = Fraction(1, 100 * 10**decimals) if decimals <= MAX_DIGITS else None
                break
        else:
            self.magnitude(m, end, value)
            return
        self.emit("NUM", pos, end, m.group(), value, step)  # rounded to its last digit
        of = _PERCENT_OF.match(self.text, end, self.end)
        if of:  # "40% of 312 TFLOP/s" is 40% × 312
            self.emit("OP", of.start(1), of.end(1), "*")

    def magnitude(self, m: re.Match, end: int, value: Fraction | None) -> None:
        """Emit the number ``m`` with its magnitude, if one follows ("124M", "3.3 billion"),
        and the unit of its last written digit when it is written rounded."""
        literal = m.group()
        mantissa, _, exponent = literal.lower().partition("e")
        decimals = len(mantissa.partition(".")[2])
        power = (int(exponent) if exponent else 0) - decimals
        shift = 0
        money = m.start() > 0 and self.text[m.start() - 1] == "$"
        suffix = (_MAGNITUDE.match(self.text, end, self.end)
                  or (_MONEY_MAGNITUDE.match(self.text, end, self.end) if money else None)
                  or (None if self.math else _SPACED_MAGNITUDE.match(self.text, end, self.end)
                      or self.spaced_as_glued(end))
                  or _MAGNITUDE_WORD.match(self.text, end, self.end))
        if suffix and suffix.group(1) == "B" and (self.bytes_line(m.start())
                                                  or (suffix.start(1) > end  # "32,768 B"
                                                      and _WHOLE_LITERAL.fullmatch(literal) and
                                                      self.bytes_beside(m.start(), suffix.end()))):
            suffix, end = None, suffix.end()  # "16×128×2B = 8192B": B is bytes on this line
        if suffix:
            shift, end = _MAGNITUDES[suffix.group(1)], suffix.end()
        rounded = shift or decimals or exponent
        step = None
        if rounded and abs(power + shift) <= MAX_EXPONENT:
            step = Fraction(10) ** (power + shift)
        if value is not None and shift:
            value = value * 10**shift
        self.emit("NUM", m.start(), end, self.text[m.start():end], value, step, shift)

    def spaced_as_glued(self, end: int) -> re.Match | None:
        """M, B or T after a space and before an operator ("70 B x 20") as the magnitude it
        is glued to a number as nearby on the same line ("6 × 70B × 70 B x 20"): a letter
        means one thing within a line (elsewhere "3 T × 2" has T a symbol). Never when the
        text has the letter as a symbol anywhere (``_symbol_letters``): "batch B = 8: 2 B × 4"."""
        m = _SPACED_LETTER.match(self.text, end, self.end)
        if m is None or m.group(1) in _symbol_letters(self.text):
            return None
        text = self.text
        lo = text.rfind("\n", max(0, end - NEARBY), end) + 1 or max(0, end - NEARBY)
        hi = text.find("\n", end, end + NEARBY)
        hi = min(len(text), end + NEARBY) if hi < 0 else hi
        return m if _GLUED_MAGNITUDE[m.group(1)].search(text, lo, hi) else None

    def expression_cell(self, bar: int) -> bool:
        """Whether the table cell that ends at the bar ``bar`` holds arithmetic (an operator),
        not a bare figure ("| 7B | ~14 GB |" claims no 7B = 14 GB)."""
        start = self.text.rfind("|", 0, bar)  # the nearest bar, which must be on this line
        return start >= 0 and self.text.find("\n", start, bar) < 0 \
            and _CELL_OPERATOR.search(self.text, start + 1, bar) is not None

    def bytes_line(self, pos: int) -> bool:
        """Whether "B" after a number means bytes on the line of ``pos``: the line has a
        whole number of four or more digits glued to B ("8192B"), which no one writes for
        trillions, and B means one thing within a line."""
        line = self.bytes_at
        if not line[0] <= pos < line[1]:
            start = self.text.rfind("\n", 0, pos) + 1
            stop = self.text.find("\n", pos)
            stop = len(self.text) if stop < 0 else stop
            line[:] = start, stop, _BYTES_NUMBER.search(self.text, start, stop) is not None
        return line[2]

    def bytes_beside(self, start: int, end: int) -> bool:
        """Whether the whole number with "B" from ``start`` to ``end`` is stated equal to a
        size in bytes next to it in its chain ("2 bytes = 32,768 B = 33 KB"): then B is bytes
        too (a fraction, "1.5 B = 1500 MB", is a count of billions)."""
        return _SIZE_AFTER.match(self.text, end, self.end) is not None or \
            _SIZE_BEFORE.search(self.text, max(0, start - 24), start) is not None

    def hyphenated(self, pos: int) -> bool:
        """Whether the number at ``pos`` ends a hyphenated name: a word, "-", the digits."""
        return pos >= 3 and self.text[pos - 1] == "-" and self.text[pos - 3:pos - 1].isalpha()

    def command(self) -> None:
        text, pos = self.text, self.pos
        m = _COMMAND.match(text, pos, self.end)
        if not m:  # an escaped character
            nxt = text[pos + 1:pos + 2]
            if nxt in ("{", "}") and nxt:
                self.emit("OPEN" if nxt == "{" else "CLOSE", pos, pos + 2, "{")
            elif nxt == "\\" and self.continues(pos + 2):
                pass  # a line break before "&= ...": the chain goes on
            elif nxt in ("\\", "%"):
                self.emit("SEP", pos, pos + 2, nxt)  # a LaTeX line break; a bare percent
            elif nxt and nxt in "$#_":
                self.emit("LABEL", pos, pos + 2, nxt)
            self.pos = pos + 2  # \, \; \! \  and friends are spacing
            return
        name, end = m.group(1), m.end()
        if name in _TIMES or name == "div":
            self.emit("OP", pos, end, "/" if name == "div" else "*")
        elif name in _FRACS:
            self.emit("FRAC", pos, end, name)
            short = _SHORT_FRAC.match(text, end, self.end)
            if short:  # \frac12 is one half
                for g in (1, 2):
                    self.emit("NUM", short.start(g), short.end(g), short.group(g),
                              Fraction(int(short.group(g))))
        elif name in ("approx", "sim", "simeq"):
            self.emit("EQ", pos, end, "≈")
        elif name == "sqrt":
            index = text.find("]", end, min(self.end, end + 32))
            if text[end:end + 1] == "[" and index > 0:  # \sqrt[3]{…}: a root of index 3
                n = text[end + 1:index].strip()
                if n.isdecimal() and n.isascii() and 2 <= int(n) <= MAX_ROOT_INDEX:
                    self.emit("ROOT", pos, index + 1, name, Fraction(int(n)))
                else:  # \sqrt[n]{…}: a BLOCK, index and all
                    self.emit("BLOCK", pos, index + 1, name)
            else:
                self.emit("ROOT", pos, end, name, Fraction(2))  # \sqrt{…}
        elif name in _LABELS:
            self.label(pos, end)
        elif name in _GREEK:
            compound = _GREEK_COMPOUND.match(text, end, self.end) if self.math else None
            base = "\\" + name + (" " + compound.group(1) if compound else "")
            self.identifier(pos, base, compound.end() if compound else end)
        elif name in _IGNORED:
            delim = _DELIMITER.match(text, end, self.end)
            if delim and name in _SIZED:  # \left( is "(", \left. is nothing
                char = delim.group(1)[-1:]
                if char in "([{":
                    self.emit("OPEN", pos, delim.end(), char)
                elif char in ")]}":
                    self.emit("CLOSE", pos, delim.end(), "([{"[")]}".index(char)])
                end = delim.end()
            elif self.prefix is None:
                self.prefix = pos  # the next token's source text starts here
            self.pos = end
        else:
            self.emit("SEP" if name in _BREAKS else "BLOCK", pos, end, name)

    def label(self, pos: int, end: int) -> None:
        r"""``\text{...}`` and friends; a number inside (``\textbf{6}``) stays a number."""
        text = self.text
        j = end
        while j < self.end and text[j] in " \t":
            j += 1
        close = _brace_end(text, j, self.end) if text.startswith("{", j) else -1
        if close < 0:
            self.emit("LABEL", pos, end, text[pos:end])
            return
        content = text[j + 1:close - 1]
        number = _NUMBER.fullmatch(content.strip())
        if number:
            self.emit("NUM", pos, close, content.strip(), _number_value(number.group()))
            return
        # A remark opened inside the label may close after it: \text{ (of } W_0) is one label.
        depth, k = content.count("(") - content.count(")"), close
        while 0 < depth and k < min(self.end, close + 300) and text[k] not in "\n=$":
            depth += (text[k] == "(") - (text[k] == ")")
            k += 1
        self.emit("LABEL", pos, k if depth == 0 else close, text[pos:close])

    def word(self) -> None:
        text, pos = self.text, self.pos
        base = (_LETTERS if self.math else _WORD).match(text, pos, self.end).group()
        end = pos + len(base)
        if not self.math and end < self.end and text[end] in _DIGITS and base not in "xX":
            name = _NAME.match(text, pos, self.end)  # "BF16", "H100", "FP8": a name
            self.emit("LABEL", pos, name.end(), name.group())
            return
        last = None
        if base in ("x", "X"):
            last = next((t for t in reversed(self.out[-20:]) if t.kind != "LABEL"), None)
        if last is not None and last.kind in ("NUM", "CLOSE", "IDENT"):
            nxt = end
            while nxt < self.end and text[nxt] in " \t":
                nxt += 1
            # "3 x 128"; in one expression on its own, any "x" after an operand ("L x d")
            # and "2 x d" before a one-letter symbol
            if self.expression or (last.kind != "IDENT" and nxt < self.end and (
                    text[nxt] in _DIGITS + "(" or _ONE_LETTER.match(text, nxt, self.end))):
                self.emit("OP", pos, end, "*")
                return
        self.identifier(pos, base, end)

    def identifier(self, pos: int, base: str, end: int) -> None:
        """A name with its subscripts (d_{model}, ffn_hidden_size), or a label word."""
        text, name = self.text, base
        while text[end:end + 1] in ("_", "\\"):  # a subscript may follow
            j = end + (2 if text.startswith("\\_", end) else 1)
            if not (text.startswith("_", end) or text.startswith("\\_", end)) or j > self.end:
                break
            if text.startswith("{", j):
                close = _brace_end(text, j, self.end, 60)
                if close < 0:
                    break
                sub = re.sub(r"\\(?:text\w*|math\w*|operatorname)|[{}\s]", "", text[j:close])
            else:
                m = _ALNUM.match(text, j, self.end)
                if not m:
                    break
                sub, close = m.group(), m.end()
            name, end = f"{name}_{sub}", close
        subscripted = name != base
        if base in _ROOT_FUNCTIONS and not subscripted and text.startswith("(", end):
            # "sqrt(6.3e24 * 9.8e24)": a square root; "cbrt(27)": a cube root
            self.emit("ROOT", pos, end, base, _ROOT_FUNCTIONS[base])
            return
        if not self.math and base in _FUNCTIONS and text.startswith("(", end):
            self.emit("BLOCK", pos, end, base)  # "log(…)", "max(…)": no value read
            return
        if self.math:
            is_label = not subscripted and base.lower() in _UNITS
        else:  # prose: words are labels; single letters, snake_case names and words glued
            # to a number ("6ND", "124M", but not "2nd") are symbols
            glued = pos > self.region_start and text[pos - 1] in _DIGITS
            if glued and not subscripted and 2 <= len(base) <= 3 and base.isupper() \
                    and base not in _UNIT_SIZES and base.isascii():
                for k, letter in enumerate(base):  # "6ND" is 6·N·D
                    self.emit("IDENT", pos + k, pos + k + 1, letter)
                return
            is_label = not subscripted and (
                base in ("a", "A", "I") or (len(base) > 1 and not glued) or base in _ORDINALS
                or (glued and base in _UNIT_SIZES) or self.seconds(base, end)  # "6.2GB"
                or (self.out[-1].kind == "LABEL" and self.out[-1].text == "/" if self.out
                    else False))  # the "s" of "FLOP/s"
        self.emit("LABEL" if is_label else "IDENT", pos, end, text[pos:end] if is_label else name)

    def unit_ratio(self) -> bool:
        """Whether the prose "/" at ``pos`` joins two unit words: "FLOP/s", "sec/hour"."""
        last = self.out[-1] if self.out else None
        if not self.math and self.text.startswith("$", self.pos + 1):
            return True  # "2Gb/$", "tokens/$": per dollar
        if self.math or last is None or last.kind != "LABEL" or not last.text.isalpha() \
                or (len(last.text) < 2 and last.text != "s") or last.end < self.pos - 1:
            return False
        return _UNIT_WORD.match(self.text, self.pos + 1, self.end) is not None

    def seconds(self, base: str, end: int) -> bool:
        """Whether a prose "s" is the unit of the stated number before it: "≈ 1.7e6 s"; or
        glued to a number before no power or name: "× 3600s ×"; or "s", "h", "d" in a chain
        of conversions (``converted``)."""
        if base in ("s", "h", "d") and self.converted(end):
            return True
        if base != "s":
            return False
        if self.text[self.pos - 1] in _DIGITS and not _GLUED_ON.match(self.text, end, self.end):
            return True
        per = _PER_UNIT.match(self.text, end, self.end)  # "86,400 s/day"
        if per and per.group(1) in _UNIT_SIZES and self.out and self.out[-1].kind == "NUM":
            return True
        if self.out and self.out[-1].kind == "NUM" and _THEN_DURATION.match(
                self.text, end, self.end):
            return True  # "1.8e6 s ≈ 21 days": a number of seconds stated as a duration
        if _AFTER_SECONDS.match(self.text, end, self.end):
            return False
        sig = [t for t in self.out[-6:] if t.kind != "LABEL"]
        return len(sig) >= 2 and sig[-1].kind == "NUM" and sig[-2].kind == "EQ"

    def converted(self, end: int) -> bool:
        """Whether the letter ending at ``end``, after a number, is a time unit of a chain of
        conversions: an arrow to another number follows it ("4e7 s → 1.11 × 10⁴ h"), or an
        arrow from a number in a time unit comes before its number ("→ 463 d")."""
        out = self.out
        if not out or out[-1].kind != "NUM":
            return False
        if _ARROW_TO_NUMBER.match(self.text, end, self.end):
            return True
        k = len(out) - 1  # back over the number's own tokens ("1.11 × 10⁴")
        while k > 0 and len(out) - k < 6 and out[k - 1].kind in ("NUM", "OP"):
            k -= 1
        before = _arrow_ending(out, k - 1)
        return before is not None and before > 0 and out[before - 1].kind == "LABEL" \
            and out[before - 1].text in _SECONDS

    def symbol(self, c: str) -> None:
        text, pos, end = self.text, self.pos, self.pos + 1
        before = text[pos - 1] if pos > self.region_start else " "
        after = text[end] if end < self.end else " "
        if c in "+-\u2212*" and not self.math and after in " \t" and self.line_start(pos):
            self.emit("LABEL", pos, end, c)  # a Markdown bullet
        elif c in "+-\u2212":
            # "GPT-2", "Multi-Head": a hyphen after a word (but "n-1" is a subtraction)
            # and "100K-token", "16-bit": a compound word after a number
            hyphen = c == "-" and not self.math and (
                (pos >= 2 and text[pos - 2:pos].isalpha() and not after.isspace())
                or (before.isalnum() and _COMPOUND_WORD.match(text, end, self.end) is not None))
            self.emit("LABEL" if hyphen else "OP", pos, end, "+" if c == "+" else "-")
        elif c == "*":
            if text.startswith("**", pos) and end < self.end:
                end += 1
                after = text[end] if end < self.end else " "
            if not self.math and before.isspace() != after.isspace():
                # *emphasis* / **bold** marker; but "25 *3* 102,400" is a product whose "*"
                # Markdown took for emphasis
                if before.isspace():
                    times = self.emphasis_opens_factor(pos, after)
                else:
                    times = before in _DIGITS and _NEXT_FACTOR.match(text, end, self.end)
                times = end - pos == 1 and bool(times)
                self.emit("OP" if times else "LABEL", pos, end, "*" if times else text[pos:end])
            elif end - pos == 1:
                self.emit("OP", pos, end, "*")
            elif self.math or before.isspace() or (before in _DIGITS + ")" and after in _DIGITS + "("):
                self.emit("OP", pos, end, "^")  # 2**10
            else:
                self.emit("LABEL", pos, end, "**")
        elif c == "/" and self.unit_ratio():
            self.emit("LABEL", pos, end, c)  # "FLOP/s", "sec/hour", "FLOP / token"
        elif c in "/\u00f7":
            self.emit("OP", pos, end, "/")
        elif c in "\u00d7\u00b7\u22c5\u2219":
            self.emit("OP", pos, end, "*")
        elif c == "^":
            self.emit("OP", pos, end, "^")
        elif c in _VULGAR:  # ½
            self.emit("NUM", pos, end, c, _VULGAR[c])
        elif c in _SUPERSCRIPTS or (c == "\u207b" and end < self.end
                                    and text[end] in _SUPERSCRIPTS):
            # 128² is 128^2, 10⁻¹² is 10^(-12)
            m = _SUPERSCRIPT_RUN.match(text, pos, self.end)
            self.emit("OP", pos, pos, "^")
            digits = m.group().translate(_SUPERSCRIPT_DIGITS)
            self.out.append(_Tok("NUM", m.group(), pos, m.end(),
                                 Fraction(int(digits)) if len(digits) <= 7 else None,
                                 self.math, False, False))
            self.pos = m.end()
        elif c in "([{":
            self.emit("OPEN", pos, end, c)
        elif c in ")]}":
            self.emit("CLOSE", pos, end, "([{"[")]}".index(c)])
        elif c == "=":
            while end < self.end and text[end] == "=":
                end += 1
            comparison = end - pos > 1 or before in "<>!:+-*/" or after in ">"
            approx = _THEN_APPROX.match(text, end, self.end)  # "= ~6.2 GB", "= ≈ 21"
            if approx and not comparison:
                self.emit("EQ", pos, approx.end(), "≈")
            else:
                self.emit("SEP" if comparison else "EQ", pos, end, text[pos:end])  # == := +=
        elif c in "\u2248\u2243" or (c == "~" and _APPROX_NUMBER.match(text, end, self.end)):
            self.emit("EQ", pos, end, "≈")  # ≈ 21 days, ~6.2 GB
        elif c == "_":  # a subscript that belongs to no name: \underbrace{..}_{\text{..}}
            close = _brace_end(text, end, self.end, 60) if text.startswith("{", end) else -1
            m = _ALNUM.match(text, end, self.end)
            self.emit("LABEL", pos, close if close > 0 else (m.end() if m else end), "_")
        elif c == "$":
            self.emit("LABEL", pos, end, c)  # a lone dollar
        elif c in _ROOT_SIGNS:  # √2, √(16), ∛27, ∜16
            self.emit("ROOT", pos, end, c, _ROOT_SIGNS[c])
        elif c in "!%\u00b1\u2211\u220f":  # 5!, a % b, ±, ∑, ∏
            self.emit("BLOCK", pos, end, c)
        else:  # punctuation, arrows, comparisons, other scripts: a break
            self.emit("SEP", pos, end, c)

    def emphasis_opens_factor(self, pos: int, after: str) -> bool:
        """Whether "*" at ``pos`` (space before, ``after`` next) opens "*3*" after a number."""
        if after not in _DIGITS:
            return False
        last = next((t for t in reversed(self.out[-20:]) if t.kind != "LABEL"), None)
        close = _EMPHASIZED_NUMBER.match(self.text, pos + 1, self.end)
        return last is not None and last.kind in ("NUM", "CLOSE") and close is not None

    def line_start(self, pos: int) -> bool:
        """Whether only blanks precede ``pos`` on its line (a bullet's position)."""
        k = pos - 1
        while k >= 0 and self.text[k] in " \t":
            k -= 1
        return k < 0 or self.text[k] == "\n"


# --------------------------------------------------------------------------- parsing


class _ParseError(Exception):
    pass


# Why an equation cannot be evaluated: Equation.reason_code with its facts (report.REASONS
# writes its English).


class _Unevaluable(Exception):
    def __init__(self, code: str, **facts):
        super().__init__(code)
        self.code, self.facts = code, facts

    def __str__(self) -> str:
        from .report import reason_text

        return reason_text(self.code, **self.facts)


_OPERAND_START = ("NUM", "IDENT", "OPEN", "FRAC", "ROOT")
_OPERAND_END = ("NUM", "IDENT", "CLOSE")
_EXPRESSION = ("NUM", "IDENT", "OP", "OPEN", "CLOSE", "FRAC", "ROOT")


_OPERATOR_KINDS = frozenset(("OP", "FRAC", "ROOT", "EQ", "BLOCK"))
_WORD_KINDS = frozenset(("LABEL", "SEP"))
_BARRIER_KINDS = frozenset(("SEP", "EQ", "BLOCK"))
_BRACKET_KINDS = frozenset(("OPEN", "CLOSE"))
_KIND = itemgetter(0)  # a token's kind


class _Scan:
    """A tokenized text with what the parser needs: bracket matching and label counts."""

    def __init__(self, text: str, toks: list[_Tok] | None = None, regions=None,
                 span: tuple[int, int] | None = None, first_line: int = 1):
        """The tokens of ``regions`` (default: all of the text's) of the piece ``span`` of
        the text, whose first character is on line ``first_line``."""
        self.text = text
        self.toks = _tokenize(text, regions) if toks is None else toks
        lo, hi = span or (0, len(text))
        # what builds it again (None: a lone expression's tokens)
        self.source = (regions, (lo, hi), first_line) if regions is not None else None
        self.first_line = first_line
        self.newlines = [m.start() for m in _NEWLINE.finditer(text, lo, hi)]
        toks = self.toks
        self.kinds = kinds = list(map(_KIND, toks))
        match: list[int | None] = [None] * len(toks)
        self.match = match
        stack: list[int] = []
        outermost: list[tuple[int, int]] = []  # the bracket groups in no other, in order
        for i in compress(range(len(kinds)), map(_BRACKET_KINDS.__contains__, kinds)):
            if kinds[i] == "OPEN":
                stack.append(i)
            elif stack and toks[stack[-1]].text == toks[i].text:
                j = stack.pop()
                match[i], match[j] = j, i
                while outermost and outermost[-1][0] > j:  # inside this one
                    outermost.pop()
                outermost.append((j, i))
        # Prefix counts make "is this bracket group only words?" an O(1) question.
        self.ops = list(accumulate(map(_OPERATOR_KINDS.__contains__, kinds), initial=0))
        self.words = list(accumulate(map(_WORD_KINDS.__contains__, kinds), initial=0))
        # the tokens no expression contains, in order: the breaks outside every bracket
        # group (one inside may be part of a skipped remark)
        cuts = list(compress(range(len(kinds)), map(_BARRIER_KINDS.__contains__, kinds)))
        for j, i in reversed(outermost):
            del cuts[bisect.bisect_right(cuts, j):bisect.bisect_left(cuts, i)]
        self.cuts = cuts
        self.citing: dict[int, bool] = {}  # ``_cites``' answers, by token
        self.units: dict[int, tuple] = {}  # ``_unit``'s answers, by token
        self._approx: list[int] | None = None  # the "≈" tokens (``approximate``)

    def indices(self, kind: str) -> list[int]:
        """The indices of the tokens of ``kind``, in order."""
        return list(compress(range(len(self.kinds)), map(kind.__eq__, self.kinds)))

    def approximate(self, lo: int, hi: int) -> bool:
        """Whether an "≈" (≈, ~, \\approx) is among tokens lo..hi-1."""
        if self._approx is None:
            toks = self.toks
            self._approx = [i for i in self.indices("EQ") if toks[i].text == "≈"]
        k = bisect.bisect_left(self._approx, lo)
        return k < len(self._approx) and self._approx[k] < hi

    def first_num(self, start: int, end: int) -> _Tok | None:
        """The first number among tokens start..end-1, or None."""
        try:
            return self.toks[self.kinds.index("NUM", start, end)]
        except ValueError:
            return None

    def barrier(self, i: int) -> int:
        """The last token at or before ``i`` that no expression contains (-1 if none)."""
        k = bisect.bisect_right(self.cuts, i)
        return self.cuts[k - 1] if k else -1

    def line_of(self, offset: int) -> int:
        return self.first_line + bisect.bisect_right(self.newlines, offset - 1)

    @classmethod
    def pieces(cls, text: str, code: bool = False) -> Iterator[_Scan]:
        """The text read one piece at a time (``_pieces``), fenced code included if ``code``."""
        line = 1
        for lo, hi, piece in _pieces(text, code):
            yield (scan := cls(text, regions=piece, span=(lo, hi), first_line=line))
            line += len(scan.newlines)

    def next_sig(self, i: int, stop: int) -> int:
        """Index of the first non-label token at or after ``i`` (``stop`` if none)."""
        kinds = self.kinds
        while i < stop and kinds[i] == "LABEL":
            i += 1
        return i

    def prev_sig(self, i: int) -> int | None:
        """Index of the last non-label token before ``i`` (None if none nearby)."""
        stop = i - 64 if i > 63 else -1  # a long run of words is a break anyway
        i -= 1
        kinds = self.kinds
        while i > stop and kinds[i] == "LABEL":
            i -= 1
        return i if i > stop else None

    def label_group(self, i: int, stop: int) -> bool:
        """Whether the bracket group opened at ``i`` is a remark: words and no operators, or
        in prose, after a space, a whole number alone that marks a reference (``marker``)."""
        close = self.match[i]
        if close is None or close >= stop:
            return False
        ops = self.ops[close] - self.ops[i + 1]
        words = self.words[close] - self.words[i + 1]
        if self.marker(i):
            return True
        return close == i + 1 or (ops == 0 and words > 0)

    def _lone_number(self, i: int) -> bool:
        """Whether a bracket group opens at ``i`` in prose after a space with a whole number
        alone in it: "(7)", "[3]"."""
        tok = self.toks[i]
        if tok.kind != "OPEN" or tok.math or not tok.spaced or self.match[i] != i + 2:
            return False
        num = self.toks[i + 1]
        return num.kind == "NUM" and num.text.isdigit() and num.value is not None

    def marker(self, i: int) -> bool:
        """Whether the bracketed whole number at ``i`` (``_lone_number``) marks a reference
        to a step, an equation or a source rather than multiplying: always in square brackets
        ("[3]"); in round ones unless it stands between a number (or a run of them after a
        number) and an operator or relation, in a paragraph whose bracketed numbers never
        follow a word (``_cites``). So "4T tokens (7) × 50k vocab size (8)", "(a / b) (17) ="
        and "= 12 (3)" cite, and "2 (3) = 6" and "2 (3) (4) = 24" multiply."""
        if not self._lone_number(i):
            return False
        if self.toks[i].text != "(":
            return True
        first = i  # the first of a run of them: "2 (3) (4)"
        while first >= 3 and self.toks[first - 1].kind == "CLOSE" and self._lone_number(first - 3):
            first -= 3
        after = self.toks[i + 3] if i + 3 < len(self.toks) else None
        between = first > 0 and self.toks[first - 1].kind == "NUM" and after is not None \
            and after.kind in ("OP", "EQ", "OPEN")
        return not between or self._cites(i)

    def _cites(self, i: int) -> bool:
        """Whether the paragraph of token ``i`` has a bracketed whole number after a word (it
        numbers its steps or sources so), within WINDOW tokens either side."""
        if (known := self.citing.get(i)) is not None:
            return known
        toks, found = self.toks, False
        for k in range(i - 1, max(0, i - WINDOW), -1):  # back to the paragraph's start
            if _blank_line(toks[k - 1], toks[k]):
                break
            if (found := self._citation(k)):
                break
        for k in range(i + 3, min(len(toks) - 1, i + WINDOW)):  # on to its end
            if found or _blank_line(toks[k], toks[k + 1]):
                break
            found = self._citation(k)
        self.citing[i] = found
        return found

    def _citation(self, k: int) -> bool:
        """Whether a bracketed whole number at ``k`` (``_lone_number``) can only cite: it
        follows a word ("size (8)"), the stated value of an equation ("= 6 (1)") or a closing
        bracket ("(a / b) (17)"; not that of another bracketed number: "2 (3) (4)")."""
        toks = self.toks
        if k < 1 or not self._lone_number(k):
            return False
        before = toks[k - 1].kind
        if before == "LABEL":
            return True
        if before == "CLOSE":
            return not (k >= 3 and self._lone_number(k - 3))
        return before == "NUM" and k >= 2 and toks[k - 2].kind == "EQ"

    def remark(self, i: int, stop: int) -> bool:
        """Whether the bracket group opened at ``i`` is prose written after a space: a
        remark with words in it, not a factor (even with operators among the words)."""
        tok, close = self.toks[i], self.match[i]
        if tok.math or not tok.spaced or close is None or close >= stop:
            return False
        return any(t.kind == "LABEL" and t.text[:1].isalpha() for t in self.toks[i + 1:close])

    def left_side(self, e: int, lo: int) -> tuple[int, tuple] | None:
        """The longest expression ending right before token ``e``: (start index, tree)."""
        first = max(lo, e - WINDOW, self.barrier(e - 1) + 1 if e else 0)
        for s in range(first, e):
            tok = self.toks[s]
            sign = tok.kind == "OP" and tok.text in "+-"
            if not (sign or tok.kind in _OPERAND_START):
                continue
            # A start right after an operator, or a sign right after an operand, would be a
            # fragment of a longer expression that did not parse (or did not fit the window).
            before = self.prev_sig(s)
            kind = self.toks[before].kind if before is not None else "SEP"
            if kind in ("OP", "FRAC", "ROOT", "BLOCK") or (sign and kind in ("NUM", "IDENT", "CLOSE")):
                continue
            parser = _Parser(self, s, e)
            try:
                tree = parser.expression()
            except _ParseError:
                continue
            if self.next_sig(parser.i, e) == e:
                return s, tree
        return None

    def right_side(self, e: int, hi: int) -> tuple[int, tuple | None, int] | None:
        """The expression starting right after token ``e``: (start, tree, end index); the
        tree is None for an expression longer than the window (its end is where it ends)."""
        stop = min(hi, e + 1 + WINDOW)
        parser = _Parser(self, e + 1, stop)
        start = self.next_sig(e + 1, stop)
        try:
            tree = parser.expression()
        except _ParseError:
            j = self.next_sig(parser.i, stop)
            cut = j == stop or (self.toks[j].kind == "OPEN" and (self.match[j] or hi) >= stop)
            long = self._long_right(start, stop, hi) if cut else None
            return long if long != "broken" else None
        after = self.next_sig(parser.i, stop)
        if after == stop and (long := self._long_right(start, stop, hi)) is not None:
            # the window ended inside the expression: it goes on (and is reported whole), or
            # what goes on is no expression (and no fragment of it is reported)
            return long if long != "broken" else None
        if after < stop and self.toks[after].kind in ("BLOCK", "ROOT"):
            return None  # "= 2 \sqrt{2}" states no plain number
        return start, tree, parser.i

    # An expression longer than the window is not dropped: its extent is found by the kinds
    # of its tokens (two tokens "join" when they may stand side by side in one expression),
    # it must parse as one expression, and it is reported as 'cannot evaluate' (its tree,
    # as deep as it is long, is never evaluated). Each "=" looks at its own stretch of
    # tokens only once, so this stays linear in the text.

    def _joins(self, a: _Tok, b: _Tok) -> bool:
        if a.kind in _OPERAND_END and b.kind in _OPERAND_START:  # only an implicit product
            return not b.fresh and (b.kind in ("OPEN", "FRAC", "ROOT") or _multiplies(a, b))
        if a.kind in ("OP", "OPEN", "FRAC", "ROOT") and b.kind == "OP":
            return b.text in "+-"  # a sign
        return not (a.kind == "OP" and b.kind == "CLOSE")

    def _long_right(self, start: int, stop: int, hi: int):
        """(start, None, end) when an expression starting at ``start`` runs past ``stop``;
        "broken" when its tokens run past ``stop`` but do not parse; else None."""
        if start >= hi or not self._starts(self.toks[start]):
            return None
        prev, end = self.toks[start], start + 1
        for i in range(start + 1, hi):
            tok = self.toks[i]
            if tok.kind == "LABEL":
                continue
            if tok.kind not in _EXPRESSION or not self._joins(prev, tok):
                break
            prev = tok
            if tok.kind in _OPERAND_END:
                end = i + 1
        if end <= stop:
            return None
        return (start, None, end) if self._parses(start, end) else "broken"

    def _parses(self, first: int, end: int) -> bool:
        """Whether tokens first..end-1 are one expression."""
        parser = _Parser(self, first, end)
        try:
            parser.expression()
        except _ParseError:
            return False
        return self.next_sig(parser.i, end) == end

    def long_left(self, e: int, lo: int) -> int | None:
        """The first token of an expression that ends right before token ``e`` and starts
        before the window ``left_side`` searches; None if there is none."""
        first = e - WINDOW
        if first <= lo:
            return None
        start, later = None, None
        for i in range(e - 1, lo - 1, -1):
            tok = self.toks[i]
            if tok.kind == "LABEL":
                continue
            if tok.kind not in _EXPRESSION or (later is not None and not self._joins(tok, later)):
                break
            start, later = i, tok
        if start is None or start >= first or not self._starts(later):
            return None
        before = self.prev_sig(start)
        if before is not None and self.toks[before].kind in ("BLOCK", "ROOT"):
            return None  # a part of "\log{...}" (no value here) or of a root
        return start if self._parses(start, e) else None

    @staticmethod
    def _starts(tok: _Tok) -> bool:
        return tok.kind in _OPERAND_START or (tok.kind == "OP" and tok.text in "+-")

    def tuple_items(self, opener: int, closer: int) -> tuple[Fraction | str, ...] | None:
        """The comma-separated entries of a bracket group: numbers where they evaluate."""
        items, start, depth = [], opener + 1, 0
        for i in range(opener + 1, closer + 1):
            tok = self.toks[i]
            depth += (tok.kind == "OPEN") - (tok.kind == "CLOSE" and i != closer)
            if i == closer or (depth == 0 and tok.kind == "SEP" and tok.text == ","):
                if i == start:
                    return None
                items.append(self._item(start, i))
                start = i + 1
        return tuple(items)

    def _item(self, start: int, stop: int) -> Fraction | str:
        parser = _Parser(self, start, stop)
        try:
            tree = parser.expression() if stop - start <= WINDOW else None
            if tree and self.next_sig(parser.i, stop) == stop and not _symbols(tree):
                return _value(tree)
        except (_ParseError, _Unevaluable):
            pass
        source = self.text[self.toks[start].start:self.toks[stop - 1].end]
        return " ".join(_LABEL_WRAPPER.sub(r"\1", source).split())


class _Parser:
    r"""Recursive descent over toks[i:stop]; trees are tuples such as ("mul", a, b).

    Grammar (LABEL tokens are skipped everywhere)::

        sum   := term (("+" | "-") term)*
        term  := unary (("*" | "/") unary | implicit-product power | label-group)*
        unary := ("+" | "-") unary | power
        power := atom ("^" unary)?
        atom  := NUM | IDENT | "(" sum ")" | \frac atom atom | root atom
    """

    def __init__(self, scan: _Scan, i: int, stop: int, tight: bool = False):
        self.scan, self.toks, self.kinds, self.i, self.stop = scan, scan.toks, scan.kinds, i, stop
        self.tight = tight  # "s/6h" is s/(6h): an implicit product joins the divisor
        self.depth = 0
        self.prev: _Tok | None = None  # last token taken; None after a skipped remark

    def expression(self) -> tuple:
        return self._sum()

    def _peek(self) -> tuple[_Tok | None, int]:
        toks, kinds, j, stop = self.toks, self.kinds, self.i, self.stop
        while j < stop and kinds[j] == "LABEL":  # scan.next_sig, inlined: the hot path
            j += 1
        return (toks[j] if j < stop else None), j

    def _take(self) -> _Tok:
        tok, j = self._peek()
        self.prev, self.i = tok, j + 1
        return tok

    def _is_op(self, tok: _Tok | None, ops: str) -> bool:
        return tok is not None and tok.kind == "OP" and tok.text in ops

    def _nest(self, parse, *args):
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise _ParseError("nested too deeply")
        result = parse(*args)
        self.depth -= 1
        return result

    def _sum(self) -> tuple:
        # what _combine(self.summands(), ...) builds, without a generator: the hot path
        tree = self._term()
        while True:
            tok, j = self._peek()
            if tok is None or tok.kind != "OP" or tok.text not in "+-":
                return tree
            self.prev, self.i = tok, j + 1
            tree = ("add" if tok.text == "+" else "sub", tree, self._term())

    def _term(self) -> tuple:
        # what _combine(self.factors(), ...) builds, without a generator: the hot path
        tree = self._unary()
        toks, kinds, stop, scan = self.toks, self.kinds, self.stop, self.scan
        while True:
            j = self.i
            while j < stop and kinds[j] == "LABEL":
                j += 1
            if j >= stop:
                return tree
            tok = toks[j]
            kind = tok.kind
            if kind == "OP" and tok.text in "*/":
                self.prev, self.i = tok, j + 1
                operand = self._unary()
                if tok.text == "/":
                    while self.tight and self._implicit_next():
                        operand = ("mul", operand, self._power())
                    if operand[0] == "num":
                        operand = self._ten_power(operand)
                tree = (_PRODUCT_STEPS[tok.text], tree, operand)
            elif kind == "OPEN" and scan.label_group(j, stop):
                self.i, self.prev = scan.match[j] + 1, None  # L(\text{...}): a remark
            elif j == self.i and self._implicit(tok):
                if kind == "OPEN" and scan.remark(j, stop):
                    return tree  # "= 160 (K and V × 80 layers)": a remark ends the expression
                tree = ("mul", tree, self._power())
            else:
                return tree

    def summands(self):
        """The terms of a sum: yields (sign "+" or "-", tree, first token, end token)."""
        first = self.scan.next_sig(self.i, self.stop)
        yield "+", self._term(), first, self.i
        while self._is_op(tok := self._peek()[0], "+-"):
            self._take()
            first = self.scan.next_sig(self.i, self.stop)
            yield tok.text, self._term(), first, self.i

    def factors(self):
        """The factors of a product: yields ("*" or "/", tree, first token, end token)."""
        first = self.scan.next_sig(self.i, self.stop)
        yield "*", self._unary(), first, self.i
        while True:
            tok, j = self._peek()
            if self._is_op(tok, "*/"):
                self._take()
                first = self.scan.next_sig(self.i, self.stop)
                operand = self._unary()
                while self.tight and tok.text == "/" and self._implicit_next():
                    operand = ("mul", operand, self._power())
                if tok.text == "/" and operand[0] == "num":
                    operand = self._ten_power(operand)
                yield tok.text, operand, first, self.i
            elif tok is not None and tok.kind == "OPEN" and self.scan.label_group(j, self.stop):
                self.i, self.prev = self.scan.match[j] + 1, None  # L(\text{...}): a remark
            elif tok is not None and j == self.i and self._implicit(tok):
                if tok.kind == "OPEN" and self.scan.remark(j, self.stop):
                    return  # "= 160 (K and V × 80 layers)": a remark ends the expression
                yield "*", self._power(), j, self.i
            else:
                return

    def _ten_power(self, mantissa: tuple) -> tuple:
        """A divisor written in scientific notation is one number: "÷ 150 × 10¹²" divides
        by 1.5 × 10¹⁴, as every reader takes it (not by 150, then times 10¹²)."""
        tok, j = self._peek()
        if not self._is_op(tok, "*") or tok.text != "*":
            return mantissa
        toks, k = self.scan.toks, self.scan.next_sig(j + 1, self.stop)
        if k + 1 < self.stop and toks[k].kind == "NUM" and toks[k].value == 10 \
                and toks[k].text == "10" and toks[k + 1].kind == "OP" and toks[k + 1].text == "^":
            self._take()
            return ("mul", mantissa, self._power())
        return mantissa

    def _implicit_next(self) -> bool:
        """Whether an implicit product factor (not a remark) comes next."""
        tok, j = self._peek()
        return (tok is not None and j == self.i and self._implicit(tok)
                and not (tok.kind == "OPEN" and (self.scan.label_group(j, self.stop)
                                                 or self.scan.remark(j, self.stop))))

    def _implicit(self, tok: _Tok) -> bool:
        """Whether ``tok`` multiplies what came just before it: 2(n+1), (a)(b), 2L, h d."""
        if self.prev is None or tok.fresh:
            return False
        if tok.kind in ("OPEN", "FRAC", "ROOT"):
            return True
        return _multiplies(self.prev, tok)


    # _unary, _power and _atom look at the next token themselves (``_peek`` inlined):
    # they run once per operand of every expression tried

    def _unary(self) -> tuple:
        toks, kinds, j, stop = self.toks, self.kinds, self.i, self.stop
        while j < stop and kinds[j] == "LABEL":
            j += 1
        if j < stop:
            tok = toks[j]
            if tok.kind == "OP" and tok.text in "+-":
                self.prev, self.i = tok, j + 1
                tree = self._nest(self._unary)
                return ("neg", tree) if tok.text == "-" else tree
        return self._power()

    def _power(self) -> tuple:
        toks, kinds, j, stop = self.toks, self.kinds, self.i, self.stop
        while j < stop and kinds[j] == "LABEL":
            j += 1
        kind = kinds[j] if j < stop else None
        if kind == "NUM" and toks[j].value is not None:  # _atom's commonest cases, inlined
            tok = toks[j]
            base = ("num", tok.value)
        elif kind == "IDENT":
            tok = toks[j]
            base = ("sym", tok.text)
        else:
            base = self._atom()
            tok, j = self.prev, self.i - 1
        self.prev, self.i = tok, j + 1
        j += 1
        while j < stop and kinds[j] == "LABEL":
            j += 1
        if j < stop and kinds[j] == "OP" and toks[j].text in "^":
            self.prev, self.i = toks[j], j + 1
            return ("pow", base, self._nest(self._unary))
        return base

    def _atom(self) -> tuple:
        toks, kinds, j, stop = self.toks, self.kinds, self.i, self.stop
        while j < stop and kinds[j] == "LABEL":
            j += 1
        if j >= stop:
            raise _ParseError("expected a number")
        tok = toks[j]
        kind = tok.kind
        if kind == "NUM":
            self.prev, self.i = tok, j + 1
            if tok.value is not None:
                return ("num", tok.value)
            if tok.grouped is not None:  # "1 000": read, but never given a value
                return ("grouped", tok.grouped, tok.text)
            return ("big", tok.text)  # a literal too long to use
        if kind == "IDENT":
            self.prev, self.i = tok, j + 1
            return ("sym", tok.text)
        if tok.kind == "OPEN":
            close = self.scan.match[j]
            if close is None or close >= self.stop:
                raise _ParseError("unclosed bracket")
            self._take()
            tree = self._nest(self._sum)
            if self._peek()[1] != close:
                raise _ParseError("expected a closing bracket")
            self._take()
            return tree
        if tok.kind == "FRAC":
            self._take()
            return ("div", self._nest(self._atom), self._nest(self._atom))
        if tok.kind == "ROOT":  # √16, √(16), \sqrt{16}, sqrt(16), ∛27, \sqrt[3]{27}
            self._take()
            return ("root", self._nest(self._atom), ("num", tok.value))  # the index a leaf
        raise _ParseError(f"unexpected {tok.kind}")


def _arrow_ending(toks: list[_Tok], i: int) -> int | None:
    """The index of the first token of the arrow that ends at token ``i`` ("→", "\\to", or
    "-" and ">"), or None when no arrow ends there."""
    if i < 0 or toks[i].kind != "SEP":
        return None
    if toks[i].text in _ARROWS:
        return i
    if toks[i].text == ">" and i > 0 and toks[i - 1].kind == "OP" and toks[i - 1].text == "-" \
            and toks[i - 1].end == toks[i].start:
        return i - 1
    return None


def _blank_line(a: _Tok, b: _Tok) -> bool:
    """Whether the tokens ``a``, ``b`` are the line breaks around a blank line."""
    return a.kind == b.kind == "SEP" and a.text == b.text == "\n"


def _multiplies(before: _Tok, tok: _Tok) -> bool:
    """Whether the symbol ``tok`` multiplies the operand ``before`` it: in math or glued
    ("2L", "h d"), and in prose a one-letter symbol after a number or another ("6 N D")."""
    if tok.kind != "IDENT":
        return False
    if tok.math or not tok.spaced:
        return True
    return len(tok.text) == 1 and (before.kind == "NUM" or (before.kind == "IDENT"
                                                             and len(before.text) == 1))


_PRODUCT_STEPS = {"*": "mul", "/": "div"}


def _combine(operands, names: dict[str, str]) -> tuple:
    """The left-associative tree of a sum's or a product's operands: a - b + c is (a - b) + c."""
    tree = None
    for op, operand, _, _ in operands:
        tree = operand if tree is None else (names[op], tree, operand)
    return tree


# --------------------------------------------------------------------------- evaluation


def _symbols(tree: tuple) -> list[str]:
    """The symbols of a tree, each once, in order of appearance."""
    if tree[0] in _LEAVES:
        return [tree[1]] if tree[0] == "sym" else []
    found: dict[str, None] = {}
    _collect_symbols(tree, found)
    return list(found)


_LEAVES = frozenset(("num", "sym", "grouped", "big"))


def _collect_symbols(tree: tuple, found: dict[str, None]) -> None:
    """Add the symbols of ``tree`` to ``found`` in order (one walk, not one list per node)."""
    for child in tree[1:]:
        kind = child[0]
        if kind == "sym":
            found[child[1]] = None
        elif kind not in _LEAVES:
            _collect_symbols(child, found)


def _evaluate(tree: tuple, leaf):
    """Evaluate a tree with ``leaf`` giving the value of each number/symbol node.

    Works for Fractions and for _RatFunc; raises _Unevaluable (division by zero, a
    non-integer or too large exponent, a too large value).
    """
    kind = tree[0]
    if kind in ("num", "sym"):
        return leaf(tree)
    if kind == "grouped":
        raise _Unevaluable("grouped-digits", text=tree[2], joined=int(tree[1]), value=tree[1])
    if kind == "big":
        raise _Unevaluable("number-too-long")
    if kind == "neg":
        return -_evaluate(tree[1], leaf)
    if kind == "root":
        return _root(_evaluate(tree[1], leaf), int(tree[2][1]))
    a, b = _evaluate(tree[1], leaf), _evaluate(tree[2], leaf)
    if type(a) is Fraction and type(b) is Fraction and a.denominator == 1 == b.denominator:
        # whole numbers (most of a write-up's arithmetic): int arithmetic, no gcd to take
        whole = _whole_step(kind, a.numerator, b.numerator)
        if whole is not None:
            return Fraction(whole)
    try:
        if kind == "add":
            result = a + b
        elif kind == "sub":
            result = a - b
        elif kind == "mul":
            result = a * b
        elif kind == "div":
            result = a / b
        else:
            result = _power(a, b)
    except ZeroDivisionError:
        raise _Unevaluable("division-by-zero") from None
    if isinstance(result, Fraction):
        _check_size(result)
    return result


def _value(tree: tuple, env: Mapping[str, Fraction] | None = None,
           bounds: bool = False) -> Fraction:
    """The exact value of a tree whose symbols all have a value in ``env``; with ``bounds``,
    a value with a root that is not rational is given as ``_Bounds`` around it
    (else it cannot be evaluated)."""
    if tree[0] == "num" and type(tree[1]) is Fraction:  # a stated number: itself
        return tree[1]
    whole = _whole(tree, env)
    if whole is not None:
        return Fraction(whole)
    value = _evaluate(tree, lambda leaf: leaf[1] if leaf[0] == "num" else env[leaf[1]])
    if isinstance(value, _Bounds) and not bounds:
        raise _Unevaluable("inexact-root")
    return value


def _whole(tree: tuple, env: Mapping[str, Fraction] | None) -> int | None:
    """The value of a tree of whole numbers as an int, made with int arithmetic alone (most
    of a write-up's arithmetic: no Fraction per step); None when a step is anything else
    (a fraction, a negative power, a root, a value beyond the limits): ``_evaluate`` then
    reads it, and says why it has no value when it has none."""
    kind = tree[0]
    if kind in _WHOLE_STEPS:
        spine = []  # a left-nested run of steps ("a * b * c * d"): walked, not recursed
        while kind in _WHOLE_STEPS:
            spine.append(tree)
            tree = tree[1]
            kind = tree[0]
        a = _whole(tree, env)
        for step in reversed(spine):
            if a is None:
                return None
            right = step[2]
            if right[0] == "num":  # a number, inlined
                b = right[1].numerator if right[1].denominator == 1 else None
            else:
                b = _whole(right, env)
            if b is None:
                return None
            a = _whole_step(step[0], a, b)
        return a
    if kind == "num" or kind == "sym":
        value = tree[1] if kind == "num" else env.get(tree[1]) if env is not None else None
        return value.numerator if value is not None and value.denominator == 1 else None
    if kind == "neg":
        a = _whole(tree[1], env)
        return None if a is None else -a
    return None


def _whole_step(kind: str, a: int, b: int) -> int | None:
    """One step of arithmetic on whole numbers, in ints (``_whole``'s and ``_evaluate``'s);
    None when its result is no whole number within the limits (a fraction, a division by
    zero, a negative power, a value beyond MAX_BITS): the general path then reads it."""
    if kind == "mul":
        result = a * b
    elif kind == "add":
        result = a + b
    elif kind == "sub":
        result = a - b
    elif kind == "div":
        if b == 0 or a % b:
            return None
        result = a // b
    elif kind == "pow":  # refused before computing, as ``_power`` does
        bits = a.bit_length()
        if b < 0 or b > MAX_EXPONENT or (bits > 1 and (bits - 1) * b > MAX_BITS):
            return None
        result = a**b
    else:
        return None
    return result if result.bit_length() <= MAX_BITS else None


_WHOLE_STEPS = frozenset(("mul", "add", "sub", "div", "pow"))


ROOT_BITS = 320  # the bits of the bounds around a root with no exact value


def _rounded_out(x: Fraction, up: bool) -> Fraction:
    """``x`` rounded away from the inside of an interval to ``ROOT_BITS`` significant bits
    (down for a lower bound, up for an upper one), so bounds stay short through a product."""
    if not x:
        return x
    shift = ROOT_BITS - (abs(x.numerator).bit_length() - x.denominator.bit_length())
    scaled = x * (Fraction(2) ** shift)
    n = scaled.numerator // scaled.denominator
    if up and n != scaled:
        n += 1
    return Fraction(n) / Fraction(2) ** shift


class _Bounds:
    """lo <= value <= hi: an exact value with an irrational root in it, between two
    Fractions. Arithmetic keeps the true value inside (each result rounded outward), so a
    verdict is decided only when every value between the bounds gives it."""

    __slots__ = ("lo", "hi")

    def __init__(self, lo: Fraction, hi: Fraction):
        for x in (lo, hi):
            if x and abs(abs(x.numerator).bit_length() - x.denominator.bit_length()) > MAX_BITS:
                raise _Unevaluable("too-large")
        self.lo, self.hi = _rounded_out(lo, False), _rounded_out(hi, True)

    @staticmethod
    def of(x) -> "_Bounds":
        return x if isinstance(x, _Bounds) else _Bounds(x, x)

    @staticmethod
    def nth_root(x: Fraction, n: int) -> "_Bounds":
        """Bounds around the n-th root of x > 0: with y = x·2^(n·s), floor(y) has the same
        integer n-th root r as y, so r/2^s <= x^(1/n) < (r+1)/2^s; s gives r at least
        ROOT_BITS bits."""
        p, q = x.numerator, x.denominator
        s = max(0, ROOT_BITS + 1 - (p.bit_length() - q.bit_length() - 1) // n)
        r = _integer_root((p << (n * s)) // q, n)
        return _Bounds(Fraction(r, 1 << s), Fraction(r + 1, 1 << s))

    def __add__(self, other):
        o = _Bounds.of(other)
        return _Bounds(self.lo + o.lo, self.hi + o.hi)

    __radd__ = __add__

    def __neg__(self):
        return _Bounds(-self.hi, -self.lo)

    def __sub__(self, other):
        return self + -_Bounds.of(other)

    def __rsub__(self, other):
        return _Bounds.of(other) + -self

    def __mul__(self, other):
        o = _Bounds.of(other)
        products = [a * b for a in (self.lo, self.hi) for b in (o.lo, o.hi)]
        return _Bounds(min(products), max(products))

    __rmul__ = __mul__

    def __truediv__(self, other):
        o = _Bounds.of(other)
        if o.lo <= 0 <= o.hi:
            raise _Unevaluable("root-undecided")
        return self * _Bounds(1 / o.hi, 1 / o.lo)

    def __rtruediv__(self, other):
        return _Bounds.of(other) / self

    def power(self, n: int) -> "_Bounds":
        result, base = _Bounds.of(Fraction(1)), self if n >= 0 else 1 / self
        n = abs(n)
        while n:  # by squaring: the bounds stay ROOT_BITS long
            if n & 1:
                result = result * base
            n >>= 1
            if n:
                base = base * base
        return result

    def root(self, n: int) -> "_Bounds":
        """Bounds around the n-th root of every value between these (an odd root keeps the
        sign; an even one of a value that may be negative cannot be decided)."""
        if self.lo < 0 and n % 2 == 0:
            raise _Unevaluable("negative-root" if self.hi < 0 else "root-undecided")

        def bound(x: Fraction, upper: bool) -> Fraction:
            if not x:
                return x
            b = _Bounds.nth_root(abs(x), n)
            return (b.hi if upper else b.lo) if x > 0 else -(b.lo if upper else b.hi)
        return _Bounds(bound(self.lo, False), bound(self.hi, True))

    def mid(self) -> Fraction:
        """A value between the bounds, to show: rounded to about 24 significant digits."""
        x = (self.lo + self.hi) / 2
        whole = abs(x.numerator) // x.denominator
        digits = len(str(whole)) if whole else -len(str(x.denominator // max(1, abs(x.numerator))))
        step = Fraction(10) ** (digits - 24)
        return round(x / step) * step


def _root(value, n: int):
    """The n-th root of a value: exact when it is a rational's n-th power, else ``_Bounds``
    around it; an expression in unknowns has one only when it is a constant n-th power."""
    if isinstance(value, _Bounds):
        return value.root(n)
    if isinstance(value, Fraction):
        if value < 0 and n % 2 == 0:
            raise _Unevaluable("negative-root")
        exact = _exact_root(value, n)
        return exact if exact is not None else _Bounds(value, value).root(n)
    constant = value.constant()  # a _RatFunc or a _Multi
    if constant is None:
        raise _Unevaluable("root-of-unknown")
    exact = _exact_root(constant, n)
    if exact is None:
        raise _Unevaluable("inexact-root")
    if isinstance(value, _RatFunc):
        return _RatFunc((exact,))
    return _Multi({(): exact}, None, value.budget)


def _integer_root(x: int, n: int) -> int:
    """The largest r with r^n <= x, for x >= 0 (Newton's method on ints, from above)."""
    if x < 2:
        return x
    r = 1 << -(-x.bit_length() // n)  # 2^ceil(bits/n) > x^(1/n)
    while True:
        smaller = ((n - 1) * r + x // r ** (n - 1)) // n
        if smaller >= r:
            return r
        r = smaller


def _exact_root(x: Fraction, n: int) -> Fraction | None:
    """The rational n-th root of x (the real one, for an odd n and x < 0), or None."""
    if x < 0:
        if n % 2 == 0:
            return None
        root = _exact_root(-x, n)
        return -root if root is not None else None
    a, b = _integer_root(x.numerator, n), _integer_root(x.denominator, n)
    return Fraction(a, b) if a ** n == x.numerator and b ** n == x.denominator else None


def _small(value: Fraction) -> bool:
    return max(value.numerator.bit_length(), value.denominator.bit_length()) <= MAX_BITS


def _check_size(value: Fraction) -> None:
    if not _small(value):
        raise _Unevaluable("too-large")


def _power(base, exponent):
    if isinstance(exponent, _Bounds):
        raise _Unevaluable("inexact-root")  # 2^√2
    n = exponent if isinstance(exponent, Fraction) else exponent.constant()
    if n is None:
        raise _Unevaluable("unknown-exponent")
    if n.denominator != 1:
        if n.denominator > MAX_ROOT_INDEX:
            raise _Unevaluable("fractional-exponent", exponent=n, index=n.denominator)
        # x^{1/3} is the cube root of x; x^{2/3} its square
        return _power(_root(base, n.denominator), Fraction(n.numerator))
    if abs(n) > MAX_EXPONENT:
        raise _Unevaluable("exponent-too-large")
    n = int(n)
    if isinstance(base, Fraction):
        bits = max(base.numerator.bit_length(), base.denominator.bit_length())
        if bits > 1 and (bits - 1) * abs(n) > MAX_BITS:  # refuse before computing
            raise _Unevaluable("too-large")
        return base**n
    return base.power(n)


def _trim(p) -> tuple[Fraction, ...]:
    p = list(p)
    while p and p[-1] == 0:
        p.pop()
    return tuple(p)


def _padd(p, q) -> tuple[Fraction, ...]:
    longer, shorter = (p, q) if len(p) >= len(q) else (q, p)
    return _trim(a + (shorter[i] if i < len(shorter) else 0) for i, a in enumerate(longer))


def _pmul(p, q) -> tuple[Fraction, ...]:
    if not p or not q:
        return ()
    if len(p) + len(q) - 2 > MAX_DEGREE:
        raise _Unevaluable("degree")
    out = [Fraction(0)] * (len(p) + len(q) - 1)
    for i, a in enumerate(p):
        for j, b in enumerate(q):
            out[i + j] += a * b
    return _trim(out)


def _peval(p, x: Fraction) -> Fraction:
    return sum((c * x**i for i, c in enumerate(p)), Fraction(0))


class _RatFunc:
    """p(t)/q(t) with Fraction coefficients (lowest degree first): a side as a function of
    its one unknown t, so "768 / h = 64" or "2 d^2 = ..." can be solved exactly."""

    __slots__ = ("p", "q")

    def __init__(self, p, q=(Fraction(1),)):
        p, q = _trim(p), _trim(q)
        if not q:
            raise ZeroDivisionError
        if len(q) == 1:  # keep polynomials polynomial: p / c
            p, q = tuple(c / q[0] for c in p), (Fraction(1),)
        for c in p + q:
            _check_size(c)
        self.p, self.q = p, q

    def __add__(self, other):
        if self.q is other.q or self.q == other.q:
            return _RatFunc(_padd(self.p, other.p), self.q)
        return _RatFunc(_padd(_pmul(self.p, other.q), _pmul(other.p, self.q)),
                        _pmul(self.q, other.q))

    def __neg__(self):
        return _RatFunc(tuple(-c for c in self.p), self.q)

    def __sub__(self, other):
        return self + -other

    def __mul__(self, other):
        return _RatFunc(_pmul(self.p, other.p), _pmul(self.q, other.q))

    def __truediv__(self, other):
        return _RatFunc(_pmul(self.p, other.q), _pmul(self.q, other.p))

    def constant(self) -> Fraction | None:
        if len(self.q) == 1 and len(self.p) <= 1:
            return self.p[0] if self.p else Fraction(0)
        return None

    def power(self, n: int):
        value = self.constant()
        if value is not None:
            return _RatFunc((_power(value, Fraction(n)),))
        if abs(n) > MAX_DEGREE:
            raise _Unevaluable("degree")
        result, base = _RatFunc((Fraction(1),)), self if n >= 0 else _RatFunc((Fraction(1),)) / self
        for _ in range(abs(n)):
            result = result * base
        return result


def _residual(tree: tuple, env: dict[str, Fraction], unknown: str, stated: Fraction):
    """(f, r): the side as p(t)/q(t) in its one unknown t, and p(t) - stated q(t); None when
    it is no such function (an unknown exponent, a degree too high)."""

    def leaf(node):
        if node[0] == "num":
            return _RatFunc((node[1],))
        if node[1] == unknown:
            return _RatFunc((Fraction(0), Fraction(1)))
        return _RatFunc((env[node[1]],))

    try:
        f = _evaluate(tree, leaf)
        return f, _padd(f.p, tuple(-stated * c for c in f.q))
    except (_Unevaluable, ZeroDivisionError):
        return None


def _holds_for_any(tree: tuple, env: dict[str, Fraction], unknown: str, stated: Fraction) -> bool:
    """Whether every value of ``unknown`` makes ``tree`` equal ``stated`` ("L - L + 3 = 3")."""
    residual = _residual(tree, env, unknown, stated)
    return residual is not None and residual[1] == ()


def _solve(tree: tuple, env: dict[str, Fraction], unknown: str, stated: Fraction) -> Fraction | None:
    """The value of ``unknown`` that makes ``tree`` equal ``stated`` (degree <= 2).

    With two solutions the single positive one is chosen (sizes are positive); None when
    there is none, when every value works, or when it stays ambiguous.
    """
    residual = _residual(tree, env, unknown, stated)
    if residual is None:
        return None
    f, r = residual
    roots: list[Fraction] = []
    if len(r) == 2:
        roots = [-r[0] / r[1]]
    elif len(r) == 3:
        c, b, a = r
        s = _exact_root(b * b - 4 * a * c, 2)
        if s is not None:
            roots = sorted({(-b - s) / (2 * a), (-b + s) / (2 * a)})
    roots = [x for x in roots if _small(x) and _peval(f.q, x) != 0]
    if len(roots) == 1:
        return roots[0]
    positive = [x for x in roots if x > 0]
    return positive[0] if len(positive) == 1 else None


# A polynomial in several unknowns: {monomial: coefficient}, a monomial being the sorted
# ((name, exponent), ...) of its unknowns; () is the constant term.
MAX_TERMS = 256  # most terms of one polynomial in an identity (keeps each check fast)


def _mono_mul(a: tuple, b: tuple) -> tuple:
    powers = dict(a)
    for name, k in b:
        powers[name] = powers.get(name, 0) + k
    return tuple(sorted(powers.items()))


def _poly_mul(p: dict, q: dict, budget: list[int]) -> dict:
    """p·q, drawing len(p)·len(q) from the document's ``budget`` of term products."""
    if p is ONE or q is ONE:  # most denominators: nothing to multiply
        return q if p is ONE else p
    budget[0] -= len(p) * len(q)
    if len(p) * len(q) > 8 * MAX_TERMS or budget[0] < 0:  # too long to expand quickly
        raise _Unevaluable("degree")
    out: dict = {}
    for ma, a in p.items():
        for mb, b in q.items():
            m = _mono_mul(ma, mb)
            if sum(k for _, k in m) > MAX_DEGREE:
                raise _Unevaluable("degree")
            out[m] = out.get(m, 0) + a * b
    out = {m: c for m, c in out.items() if c}
    if len(out) > MAX_TERMS:
        raise _Unevaluable("degree")
    for c in out.values():
        _check_size(c)
    return out


def _poly_add(p: dict, q: dict, sign: int = 1) -> dict:
    out = dict(p)
    for m, c in q.items():
        out[m] = out.get(m, 0) + sign * c
    return {m: c for m, c in out.items() if c}


# Term products an identity check may spend in one document: real identities take a few
# dozen each, and a text made of huge products stays fast (the rest are not checked).
IDENTITY_BUDGET = 200_000
ONE = {(): Fraction(1)}


class _Multi:
    """p/q, polynomials in several unknowns with Fraction coefficients: a side of an
    identity as an exact function of its unknowns (the same operations as ``_RatFunc``);
    ``budget`` is the document's remaining term products."""

    __slots__ = ("p", "q", "budget")

    def __init__(self, p: dict, q: dict | None, budget: list[int]):
        q = ONE if q is None else q
        if not q:
            raise ZeroDivisionError
        if q is not ONE and len(q) == 1 and () in q:  # keep polynomials polynomial: p / c
            p, q = {m: c / q[()] for m, c in p.items()}, ONE
        self.p, self.q, self.budget = p, q, budget

    def _mul(self, p: dict, q: dict) -> dict:
        return _poly_mul(p, q, self.budget)

    def __add__(self, other):
        if self.q == other.q:
            return _Multi(_poly_add(self.p, other.p), self.q, self.budget)
        return _Multi(_poly_add(self._mul(self.p, other.q), self._mul(other.p, self.q)),
                      self._mul(self.q, other.q), self.budget)

    def __neg__(self):
        return _Multi({m: -c for m, c in self.p.items()}, self.q, self.budget)

    def __sub__(self, other):
        return self + -other

    def __mul__(self, other):
        return _Multi(self._mul(self.p, other.p), self._mul(self.q, other.q), self.budget)

    def __truediv__(self, other):
        return _Multi(self._mul(self.p, other.q), self._mul(self.q, other.p), self.budget)

    def constant(self) -> Fraction | None:
        if set(self.p) <= {()} and set(self.q) == {()}:
            return self.p.get((), Fraction(0))
        return None

    def power(self, n: int):
        value = self.constant()
        if value is not None:
            return _Multi({(): _power(value, Fraction(n))}, None, self.budget)
        if abs(n) > MAX_DEGREE:
            raise _Unevaluable("degree")
        one = _Multi(ONE, None, self.budget)
        result, base = one, self if n >= 0 else one / self
        for _ in range(abs(n)):
            result = result * base
        return result


def _multi(tree: tuple, env: Mapping[str, Fraction], budget: list[int]) -> _Multi:
    """A tree as an exact function of its symbols with no value in ``env``."""
    def leaf(node):
        if node[0] == "num":
            return _Multi({(): node[1]}, None, budget)
        if node[1] in env:
            return _Multi({(): env[node[1]]}, None, budget)
        return _Multi({((node[1], 1),): Fraction(1)}, None, budget)
    return _evaluate(tree, leaf)


def _poly_text(p: dict) -> str:
    """A polynomial written out, highest degree first: "4·b·s^2·h - 2·d"."""
    def degree(m):
        return -sum(k for _, k in m), m
    out = []
    for m in sorted(p, key=degree):
        c = p[m]
        factors = [n if k == 1 else f"{n}^{k}" for n, k in m]
        mag = abs(c)
        coefficient = "" if mag == 1 and factors else (
            f"{mag.numerator}" if mag.denominator == 1 else f"({mag.numerator}/{mag.denominator})")
        term = "·".join(([coefficient] if coefficient else []) + factors)
        out.append(("- " if c < 0 else "+ ") + term if out else ("-" if c < 0 else "") + term)
    return " ".join(out) or "0"


def _difference_text(f: _Multi) -> str:
    if f.q == ONE:
        return _poly_text(f.p)
    return f"({_poly_text(f.p)}) / ({_poly_text(f.q)})"


# --------------------------------------------------------------------------- claims


@dataclass(slots=True)
class _Side:
    """One side of a chain "a = b = c": its token range and tree."""

    start: int  # first token
    end: int  # index after the last token taken
    tree: tuple
    kind: str = "expr"  # 'number' | 'sci' (N \times 10^k) | 'grouped' ("12 000") | 'name' |
    #                     'symbol' | 'expr' | 'long' (an expression longer than WINDOW tokens)
    value: Fraction | None = None
    step: Fraction | None = None  # a stated number written rounded: its last digit's unit


def _is_int_literal(tree: tuple) -> bool:
    if tree[0] == "neg":
        tree = tree[1]
    return tree[0] == "num" and tree[1].denominator == 1


def _classify(scan: _Scan, side: _Side, eq_index: int) -> _Side:
    tree = side.tree
    plain = tree[1] if tree[0] == "neg" else tree
    ten_power = tree[0] == "pow" and tree[1] == ("num", 10) and _is_int_literal(tree[2])
    if tree[0] == "mul" and tree[1][0] == "num":
        ten_power = tree[2][0] == "pow" and tree[2][1] == ("num", 10) and _is_int_literal(tree[2][2])
    if plain[0] == "num" or ten_power:
        try:
            side.value = _value(tree)
            side.kind = "number" if plain[0] == "num" else "sci"
            side.step = _stated_step(scan, side, tree)
        except _Unevaluable:
            side.kind = "symbol"  # a number too large to use: checks nothing
    elif plain[0] == "grouped":  # "= 12 000": a stated number, but which one?
        side.kind, side.value = "grouped", plain[1] if tree is plain else -plain[1]
    elif plain[0] == "big":
        side.kind = "symbol"
    elif plain[0] == "sym":
        bare = tree[0] == "sym" and side.end == eq_index and _only_remarks(scan, side.start + 1,
                                                                         eq_index)
        side.kind = "name" if bare else "symbol"
    return side


def _only_remarks(scan: _Scan, i: int, stop: int) -> bool:
    """Whether tokens i..stop-1 are remarks in brackets only: "$H$ (heads) = 25" names H
    (but words outside brackets do not: "y size of the embedding = 768" names nothing)."""
    while i < stop:
        if scan.toks[i].kind == "OPEN" and scan.label_group(i, stop):
            i = scan.match[i] + 1
        else:
            return False
    return True


def _stated_step(scan: _Scan, side: _Side, tree: tuple) -> Fraction | None:
    """The unit of the last written digit of a stated number written rounded ("124M": 10^6,
    "1.2 \\times 10^{12}": 10^11); None for one written exactly ("294,912", "10^{12}")."""
    num = scan.first_num(side.start, side.end)
    if num is None:
        return None
    if tree[0] == "neg":
        tree = tree[1]
    if tree[0] == "num":
        return num.step
    if tree[0] == "mul":  # N \times 10^k
        k = tree[2][2][1] if tree[2][2][0] == "num" else -tree[2][2][1][1]
        if abs(k) <= MAX_EXPONENT:
            return (num.step or Fraction(1)) * Fraction(10) ** int(k)
    return None


def _magnitude_shift(scan: _Scan, side: _Side, target: _Side) -> int:
    """The stated number's magnitude when the side has none of its own (its numbers are
    then in the stated unit, as in "67 + 8.4 + 235 = 310.4M"), else 0."""
    num = scan.first_num(target.start, target.end)
    if num is None or not num.shift:
        return 0
    mine = [t for t in scan.toks[side.start:side.end] if t.kind == "NUM"]
    return 0 if any(t.shift for t in mine) else num.shift


_UNIT_SIZES = {"KB": (10**3, 2**10), "MB": (10**6, 2**20), "GB": (10**9, 2**30),
               "TB": (10**12, 2**40), "KiB": (2**10,), "MiB": (2**20,), "GiB": (2**30,),
               "TiB": (2**40,), "bytes": (1,), "seconds": (1,), "second": (1,), "sec": (1,),
               "minutes": (60,), "minute": (60,), "min": (60,), "hours": (3600,),
               "hour": (3600,), "hrs": (3600,), "hr": (3600,), "days": (86400,),
               "day": (86400,), "weeks": (604800,), "week": (604800,), "s": (1,),
               "years": (31_536_000, 31_557_600), "year": (31_536_000, 31_557_600),
               "PB": (10**15, 2**50), "PiB": (2**50,)}  # a year: 365 or 365.25 days
_SECONDS = {"seconds", "second", "sec", "s", "minutes", "minute", "min", "hours", "hour", "hrs",
            "hr", "days", "day", "weeks", "week", "years", "year", "h", "d"}
# "h" and "d" are hours and days only where the lexer reads them as units (``seconds``):
# between arrows of a chain of conversions; elsewhere "4 d" is 4·d
_TIME_LETTERS = {"h": (3600,), "d": (86400,)}


# The prefixes of a count of FLOPs (or of multiply-adds) as powers of ten, written as a letter
# or spelled out: "MFLOPs", "TFLOP/s", "teraFLOPs", "exaflops", "GMACs" (a lowercase m is milli,
# never mega). One table for the arithmetic check and the figure check (figures.py).
FLOP_PREFIXES = {"": 0, "k": 3, "K": 3, "M": 6, "G": 9, "g": 9, "T": 12, "t": 12, "P": 15,
                 "p": 15, "E": 18, "e": 18, "Z": 21, "z": 21, "kilo": 3, "mega": 6, "giga": 9,
                 "tera": 12, "peta": 15, "exa": 18, "zetta": 21}
_FLOP_UNIT = re.compile("(?i:(" + "|".join(p for p in FLOP_PREFIXES if len(p) > 1) + "))?"
                        "([" + "".join(p for p in FLOP_PREFIXES if len(p) == 1) + "])?"
                        "((?i:flop)|MAC)[sS]?")  # "MACs"; "Macs" are computers


def flop_unit(word: str) -> tuple[int, bool] | None:
    """The power of ten of a unit word that counts FLOPs or multiply-adds ("MFLOPs": 6,
    "teraflops": 12, "FLOPs": 0) and whether it counts multiply-adds ("GMACs"); None for any
    other word."""
    m = _FLOP_UNIT.fullmatch(word)
    if m is None or (m.group(1) and m.group(2)):
        return None
    prefix = (m.group(1) or "").lower() or m.group(2) or ""
    return FLOP_PREFIXES[prefix], m.group(3).lower() == "mac"


def _flop_size(word: str) -> int | None:
    """10^k of a unit word that counts FLOPs with a prefix ("TFLOP", "PFLOPs"): what one
    of them is in FLOPs; None for a plain "FLOPs", a count of multiply-adds or another word."""
    flops = flop_unit(word) if "lop" in word or "LOP" in word else None
    return 10 ** flops[0] if flops is not None and not flops[1] and flops[0] else None


def _side_units(scan: _Scan, side: _Side) -> list[int]:
    """The products of the units written after the side's numbers, each in its base unit
    (bytes, seconds, FLOP/s), other than 1: of all of them ("311.84 TFLOP/s × 1,720,320
    hours": 10^12 × 3,600) and of the rates alone (10^12)."""
    product = rates = 1
    for i in range(side.start, side.end):
        if scan.toks[i].kind != "NUM":
            continue
        j = i + 1
        while j < len(scan.toks) and scan.toks[j].kind == "LABEL":
            word = scan.toks[j].text
            rate = _flop_size(word)  # "TFLOP/s", "PFLOPs": 10^12, 10^15 (per second)
            if rate is not None or word in _UNIT_SIZES:
                product *= rate or _UNIT_SIZES[word][0]
                rates *= rate or 1
                break
            j += 1
    return [own for own in dict.fromkeys((product, rates)) if own != 1]


def _unit(scan: _Scan, i: int) -> tuple[str, tuple[int, ...], str]:
    """The kind ("bytes", "seconds", "flops", "macs") of the unit written as token ``i``
    (after a number), the sizes it may mean in that kind's base unit ("GB": 10^9, or 2^30
    as many write it; "days": 86,400; "MFLOPs": 10^6), and the unit as written; ("", (), "")
    when it is none of these."""
    if (known := scan.units.get(i)) is None:
        known = scan.units[i] = _unit_of(scan, i)
    return known


def _unit_of(scan: _Scan, i: int) -> tuple[str, tuple[int, ...], str]:
    if i >= len(scan.toks) or scan.toks[i].kind != "LABEL":
        return "", (), ""
    tok = scan.toks[i]
    word = scan.text[tok.start:tok.end]
    word = (_LABEL_WRAPPER.sub(r"\1", word) if "\\" in word else word).strip()  # \text{GB}
    if word in _TIME_LETTERS:
        return "seconds", _TIME_LETTERS[word], word
    if word not in _UNIT_SIZES:
        flops = flop_unit(word)
        if flops is None:
            return "", (), ""
        # a count of multiply-adds is of another kind: "5 GMACs = 10 GFLOPs" converts nothing
        return ("macs" if flops[1] else "flops"), (10 ** flops[0],), word
    return ("seconds" if word in _SECONDS else "bytes"), _UNIT_SIZES[word], word


def _stated_unit(scan: _Scan, side: _Side) -> tuple[str, tuple[int, ...], str]:
    """``_unit`` of the word after a stated number's side: right after its last token, or
    after its last number when the side took the words that follow it ("312 \\) teraFLOPs")."""
    k = side.end - 1
    while k > side.start and scan.toks[k].kind == "LABEL":
        k -= 1
    return _unit(scan, k + 1)


def _approximate_step(stated: Fraction) -> Fraction:
    """The precision of a whole number stated with ≈: its trailing zeros ("≈ 7,000": 1,000)."""
    n, step = abs(stated.numerator), 1
    while n and n % 10 == 0 and step < 10**MAX_EXPONENT:
        n, step = n // 10, step * 10
    return Fraction(step)


def _approximate_zeros(scan: _Scan, target: _Side) -> int:
    """10^k for a stated number written with a magnitude or an exponent whose whole mantissa
    ends in k zeros: "≈ 120M" is read to the ten million, as "≈ 7,000" is to the thousand."""
    num = scan.first_num(target.start, target.end)
    mantissa = re.match(r"[0-9,_]*(\.[0-9]*)?", num.text if num is not None else "")
    if mantissa is None or mantissa.group(1) is not None:
        return 1
    digits = re.sub(r"[^0-9]", "", mantissa.group())
    zeros = len(digits) - len(digits.rstrip("0")) if digits.strip("0") else 0
    return 10 ** min(zeros, MAX_DIGITS)


def _nearest(chain: list[_Side | None], kinds: tuple[str, ...]) -> tuple[list, list]:
    """For each side of a chain: the closest side of the given kinds after it, and before it."""
    n = len(chain)
    after: list[_Side | None] = [None] * n
    before: list[_Side | None] = [None] * n
    last = None
    for i in range(n - 1, -1, -1):
        after[i] = last
        if (side := chain[i]) is not None and side.kind in kinds:
            last = side
    last = None
    for i in range(n):
        before[i] = last
        if (side := chain[i]) is not None and side.kind in kinds:
            last = side
    return after, before


def _chains(scan: _Scan) -> list[list[_Side | None]]:
    """Group the text's "=" signs into chains of sides: "a = b = c" gives [a, b, c]."""
    eqs = scan.indices("EQ")
    chains: list[list[_Side | None]] = []
    for k, e in enumerate(eqs):
        lo = eqs[k - 1] + 1 if k else 0
        hi = eqs[k + 1] if k + 1 < len(eqs) else len(scan.toks)
        left = scan.left_side(e, lo)
        if left is not None:
            side = _classify(scan, _Side(left[0], e, left[1]), e)
        elif (start := scan.long_left(e, lo)) is not None:
            left, side = (start, None), _Side(start, e, None, "long")
        else:
            side = None
        # Linked to the previous "=" when the whole stretch between them is this one side.
        linked = k > 0 and left is not None and left[0] == scan.next_sig(lo, e)
        if linked:
            chains[-1].append(side)
        else:
            if chains:
                chains[-1].append(_right(scan, eqs[k - 1], e))
            chains.append([side])
    if eqs:
        chains[-1].append(_right(scan, eqs[-1], len(scan.toks)))
    return chains


def _right(scan: _Scan, e: int, hi: int) -> _Side | None:
    right = scan.right_side(e, hi)
    if right is None:
        return None
    start, tree, end = right
    if tree is None:
        return _Side(start, end, None, "long")
    return _classify(scan, _Side(start, end, tree), -1)


def _compare(scan: _Scan, side: _Side, target: _Side, computed: Fraction,
             precision: Fraction | None) -> tuple[str, Fraction, int, int, str]:
    """(verdict, difference, scale, unit, unit name) of a side's exact value against the
    stated number, read in each way it may be meant, at the precision written:

    - as written: stated - computed;
    - "67 + 8.4 = 75.4M": a side with no magnitude is in the stated unit (``scale``);
    - "= 1.07 GB" of a count of bytes: 1.07 x 10^9 (or x 2^30), and "≈ 21 days" of a count
      of seconds (``unit``); the side's own numbers may carry a unit of the same kind
      ("65 KB × 100,000 = 6.5 GB").

    The first reading that holds gives 'ok'; when none does, the verdict is 'wrong' and the
    difference is that of the reading nearest to the stated number (a count of bytes against
    "1.2 GiB" is off by a fraction of a GiB, not by a billion)."""
    stated = target.value
    if stated.denominator == 1 == computed.denominator:  # whole numbers: ints, no gcd
        off = stated.numerator - computed.numerator
        if not off or (precision is not None and 2 * abs(off) <= precision):
            return "ok", Fraction(off), 0, 1, ""  # as written (most equations): nothing more
    elif stated == computed or (precision is not None
                                and 2 * abs(stated - computed) <= precision):
        return "ok", stated - computed, 0, 1, ""
    readings = _readings(scan, side, target, computed)
    for difference, scale, unit, unit_name, size in readings:
        if difference == 0 or (precision is not None and 2 * abs(difference) <= precision * size):
            return "ok", difference, scale, unit, unit_name

    def distance(reading) -> Fraction:  # how far off, relative to the stated number
        difference, _, unit, _, _ = reading
        whole = abs(stated * unit)
        return abs(difference) / whole if whole else abs(difference)

    difference, scale, unit, unit_name, _ = min(readings, key=distance)
    return "wrong", difference, scale, unit, unit_name


def _readings(scan: _Scan, side: _Side, target: _Side, computed: Fraction) -> list[tuple]:
    """The ways the stated number may be meant (``_compare``), each as (difference, scale,
    unit, unit name, the size of the stated unit in the side's)."""
    stated = target.value
    readings = [(stated - computed, 0, 1, "", 1)]  # (difference, scale, unit, name, in units)
    shift = _magnitude_shift(scan, side, target)
    if shift:
        readings.append((stated - computed * 10**shift, shift, 1, "", 1))
    kind, factors, name = _stated_unit(scan, target)
    mine = next((u[1] for i in range(side.start, side.end) if scan.toks[i].kind == "NUM"
                 and (u := _unit(scan, i + 1))[0] == kind and kind), (1,))
    readings += [(stated * factor - computed * own, 0, factor, name, factor)
                 for factor in factors for own in mine if (factor, own) != (1, 1)]
    if not kind or factors == (1,):
        # "311.84 TFLOP/s × 1,720,320 hours × 0.40 = 7.725e+23": the side's units converted
        # (T = 10^12, an hour 3,600 s; or only the rate's, when the 3,600 is written too)
        readings += [(stated - computed * own, 0, 1, "", 1) for own in _side_units(scan, side)]
    return readings


def _compare_bounds(scan: _Scan, side: _Side, target: _Side, computed: _Bounds,
                    precision: Fraction | None) -> tuple[str, Fraction, int, int, str] | None:
    """``_compare`` for a value known only between bounds (it has an irrational square
    root): 'ok' when a reading holds at both bounds (each difference is linear in the value,
    so it holds between them), 'wrong' when in every reading no value between the bounds
    holds; None when the bounds do not decide. The difference is that of the shown value."""
    low = _readings(scan, side, target, computed.lo)
    high = _readings(scan, side, target, computed.hi)
    shown = computed.mid()
    for k, ((d_lo, *_, size), (d_hi, *_)) in enumerate(zip(low, high)):
        if precision is not None and 2 * max(abs(d_lo), abs(d_hi)) <= precision * size:
            difference, scale, unit, unit_name, _ = _readings(scan, side, target, shown)[k]
            return "ok", difference, scale, unit, unit_name
    if _holds_between(scan, side, target, computed.lo, computed.hi, precision) is not None:
        return None  # some value between the bounds holds in a reading
    return _compare(scan, side, target, shown, precision)


def _holds_between(scan: _Scan, side: _Side, target: _Side, lo: Fraction, hi: Fraction,
                   precision: Fraction | None) -> int | None:
    """The first reading (``_readings``) in which some value between lo and hi holds at the
    stated precision (each difference is linear in the value), or None."""
    low, high = _readings(scan, side, target, lo), _readings(scan, side, target, hi)
    for k, ((d_lo, *_, size), (d_hi, *_)) in enumerate(zip(low, high)):
        half = precision * size / 2 if precision is not None else 0
        if min(d_lo, d_hi) <= half and max(d_lo, d_hi) >= -half:
            return k
    return None


def _lone_rounded(scan: _Scan, side: _Side) -> Fraction | None:
    """The unit of the last digit of a side that is one number written rounded (the middle
    of "… = 5.4e8 s ≈ 6,232 days"), else None."""
    if side.tree is None or side.tree[0] != "num":
        return None
    nums = [t for t in scan.toks[side.start:side.end] if t.kind == "NUM"]
    return nums[0].step if len(nums) == 1 else None


def _side_symbols(scan: _Scan, side: _Side) -> list[str]:
    """The symbols of a side's tree (``_symbols``): none without a name among its tokens,
    where every symbol of its tree comes from."""
    if side.tree is None or "IDENT" not in scan.kinds[side.start:side.end]:
        return []
    return _symbols(side.tree)


def _check(scan: _Scan, side: _Side, target: _Side, env: dict[str, Fraction],
           ahead: set | frozenset = frozenset()) -> Equation:
    stated = target.value
    names = _side_symbols(scan, side)
    unknowns = tuple(n for n in names if n not in env) if names else ()
    used = tuple((n, env[n]) for n in names if n in env) if names else ()
    stated_tok = scan.toks[target.start]
    if len(unknowns) == 1 and stated_tok.shift and stated_tok.text.endswith(unknowns[0]) \
            and _MAGNITUDES.get(unknowns[0]) == stated_tok.shift:
        # "1.2 T / 4 = 0.3 T": the letter the stated number has as its magnitude is that
        # magnitude on the side too, not an unknown; or the side is in that unit: "4 M + 2 =
        # 6 M" holds as (4 + 2)M
        letter = unknowns[0]
        e = _check(scan, side, target, {**env, letter: Fraction(10) ** stated_tok.shift}, ahead)
        if e.verdict == "wrong":
            in_unit = _check(scan, side, target, {**env, letter: Fraction(1)}, ahead)
            e = in_unit if in_unit.verdict == "ok" else e
        return replace(e, bindings=used)
    computed = solution = difference = None
    facts, code, any_value, scale, unit, unit_name = (), "", False, 0, 1, ""
    lo, hi = (side.start, target.start) if side.start < target.start else \
        (target.start, side.start)
    approximate = scan.approximate(lo, hi)
    precision = target.step
    if approximate and precision is None and stated.denominator == 1:
        precision = _approximate_step(stated)
    elif approximate and precision is not None:
        precision *= _approximate_zeros(scan, target)
    if precision is None and stated.denominator == 1 and max(_stated_unit(scan, target)[1] or
                                                             (1,)) > 1:
        precision = Fraction(1)  # "= 52GB", "= 3 days": a unit is a magnitude, to its digit
    if side.kind == "long":
        verdict, code = "cannot evaluate", "too-long"
    elif target.kind == "grouped":
        verdict, code = "cannot evaluate", "stated-grouped-digits"
        source = scan.text[scan.toks[target.start].start:scan.toks[target.end - 1].end]
        facts = (("text", source.strip()), ("joined", int(stated)), ("value", stated))
    elif unknowns:
        verdict = "unknown"
        if len(unknowns) == 1:
            solution = _solve(side.tree, env, unknowns[0], stated)
            any_value = solution is None and _holds_for_any(side.tree, env, unknowns[0], stated)
    else:
        try:
            computed = _value(side.tree, env, bounds=True)
        except _Unevaluable as e:
            verdict, code, facts = "cannot evaluate", e.code, tuple(e.facts.items())
        else:
            if precision is None and stated.denominator == 1 and (
                    isinstance(computed, _Bounds) or computed.denominator != 1) \
                    and abs(stated.numerator) >= 10:
                # "3000/22=136": a whole number of two or more digits, to its last digit
                # (one digit is too coarse a rounding to read: 7/2 = 3 stays wrong)
                precision = Fraction(1)
            if isinstance(computed, _Bounds):  # a root with no exact value
                decided = _compare_bounds(scan, side, target, computed, precision)
                computed = computed.mid()
                if decided is None:
                    verdict, code, computed = "cannot evaluate", "root-undecided", None
                else:
                    verdict, difference, scale, unit, unit_name = decided
            else:
                verdict, difference, scale, unit, unit_name = _compare(
                    scan, side, target, computed, precision)
                step = _lone_rounded(scan, side) if verdict == "wrong" else None
                if step is not None:  # "5.4e8 s ≈ 6,232 days": 5.4e8 is 5.35e8 to 5.45e8
                    k = _holds_between(scan, side, target, computed - step / 2,
                                       computed + step / 2, precision)
                    if k is not None:
                        verdict = "ok"
                        difference, scale, unit, unit_name, _ = _readings(
                            scan, side, target, computed)[k]
    toks, text = scan.toks, scan.text
    start, end = toks[side.start].start, toks[side.end - 1].end
    return Equation(
        line=scan.line_of(start),
        expression=text[start:end].strip(),
        stated=stated,
        computed=computed,
        unknowns=unknowns,
        solution=solution,
        verdict=verdict,
        difference=difference,
        stated_text=text[toks[target.start].start:toks[target.end - 1].end],
        bindings=used,
        span=(start, end),
        reason_code=code,
        reason_facts=facts,
        precision=precision,
        approximate=approximate,
        holds_for_any=any_value,
        scale=scale,
        unit=unit,
        unit_name=unit_name,
        defined_later=tuple(n for n in names if n in ahead) if names and ahead else (),
    )


def _analyse(text: str, code: bool = False, on_piece=None) -> Analysis:
    """All claims, definitions and identities of ``text``, with definitions applied in
    order; a symbol defined once gives its value to the equations before its definition
    too: a piece with such an equation is read again with that value known."""
    env: dict[str, Fraction] = {}
    equations: list[Equation] = []
    bindings: list[Binding] = []
    identities: list[Identity] = []
    pending = []  # (piece source, env before it, its equations and identities) to re-read
    budget = [IDENTITY_BUDGET, 0]  # term products left, identities skipped for want of them
    for scan in _Scan.pieces(text, code):
        before, e0, i0 = dict(env), len(equations), len(identities)
        _analyse_piece(scan, env, equations, bindings, identities, budget)
        if any(e.verdict == "unknown" for e in equations[e0:]) or any(
                x.verdict != "ok" for x in identities[i0:]):
            pending.append((scan.source, before, (e0, len(equations)), (i0, len(identities))))
        if on_piece is not None:
            on_piece(scan)
    values: dict[str, set] = {}
    for b in bindings:
        values.setdefault(b.name, set()).add(b.value)
    later = {name: v.pop() for name, v in values.items() if len(v) == 1}
    redone_equations, redone_identities = {}, {}
    for (regions, span, line), before, eqs, ids in pending:
        unknown = {n for e in equations[slice(*eqs)] for n in e.unknowns}
        unknown |= {n for x in identities[slice(*ids)] for n in x.unknowns}
        ahead = {n for n in unknown & later.keys() if n not in before}
        if not ahead:
            continue
        scan = _Scan(text, regions=regions, span=span, first_line=line)
        again_e: list[Equation] = []
        again_i: list[Identity] = []
        _analyse_piece(scan, {**before, **{n: later[n] for n in ahead}}, again_e, [], again_i,
                       budget, ahead)
        redone_equations[eqs], redone_identities[ids] = again_e, again_i
    return Analysis(_spliced(equations, redone_equations), bindings,
                    _spliced(identities, redone_identities), budget[1])


def _spliced(items: list, replacements: dict) -> list:
    """``items`` with each slice (start, end) in ``replacements`` replaced by its list."""
    if not replacements:
        return items
    out, at = [], 0
    for (start, end), new in sorted(replacements.items()):
        out += items[at:start] + new
        at = end
    return out + items[at:]


def _evaluated(side: _Side | None, env: dict[str, Fraction]) -> _Side | None:
    """An arithmetic side with a value, as the stated side of "expression = expression"."""
    if side is None or side.kind != "expr" or any(n not in env for n in _symbols(side.tree)):
        return None
    try:
        value = _value(side.tree, env)
    except _Unevaluable:
        return None
    return _Side(side.start, side.end, side.tree, "number", value)


def _analyse_piece(scan: _Scan, env: dict[str, Fraction], equations: list[Equation],
                   bindings: list[Binding], identities: list[Identity], budget: list[int],
                   ahead: frozenset | set = frozenset()) -> None:
    """Read one piece: its chains' claims and identities, and its definitions (in "=" chains,
    lists and tables) in order. ``ahead``: names given their value before their definition;
    ``budget``: the term products identities may still spend (``IDENTITY_BUDGET``)."""
    ahead = set(ahead)
    listed = _listed_definitions(scan)

    def define(name: str, value: Fraction, line: int) -> None:
        env[name] = value
        ahead.discard(name)
        bindings.append(Binding(line, name, value))

    for chain in _chains(scan):
        first = next(side for side in chain if side is not None) if any(chain) else None
        start = scan.toks[first.start].start if first is not None else len(scan.text)
        while listed and listed[0][0] < start:  # a list's or table's definitions before it
            _, line, name, value = listed.pop(0)
            define(name, value, line)
        stated_after, stated_before = _nearest(chain, ("number", "sci", "grouped"))
        plain_after, plain_before = _nearest(chain, ("number", "grouped"))
        # Each arithmetic side is checked against the nearest stated number of its chain
        # (the next one, else the previous one); N \times 10^k only against a plain number.
        for i, side in enumerate(chain):
            if side is None or side.kind not in ("expr", "sci", "long"):
                continue
            if side.kind == "sci":
                target = plain_after[i] or plain_before[i]
            else:
                target = stated_after[i] or stated_before[i]
            nxt = chain[i + 1] if i + 1 < len(chain) else None
            if target is None and side.kind == "expr":
                # with no number, "a + b = c + d": a side with a value is the stated one
                target = _evaluated(nxt, env)
                mine = _evaluated(side, env)
                if target is None and mine is not None and nxt is not None \
                        and nxt.kind == "expr":
                    equations.append(_check(scan, nxt, mine, env, ahead))  # "6 × 64 = 6d"
                elif target is None and mine is None and nxt is not None \
                        and nxt.kind == "expr" and (x := _identity(scan, side, nxt, env, budget)):
                    identities.append(x)  # "2·d·3d = 6d^2"
            carry = _carried(scan, chain[i - 1] if i else None, side, env, ahead)
            carried = None
            if carry is not None:  # "327,680 = 0.33MB / token x 131072 = 42.95GB"
                conversion, exact, carried = carry
                equations.append(conversion)
            if target is not None:
                e = _check(scan, side, target, env, ahead)
                if carried is not None and e.verdict != "ok":
                    # the chain goes on from the exact value before it, or from the rounded
                    # one written ("0.33MB x 131072 = 43.25GB" works 0.33 out as written):
                    # either holds; else the exact reading is reported
                    from_exact = _check(scan, exact, target, env, ahead)
                    if from_exact.verdict == "ok" or e.verdict == "wrong":
                        e = replace(from_exact, carried=carried)
                equations.append(e)
        for left, right in zip(chain, chain[1:]):  # "5.6e10 = 52GB": a conversion
            if _conversion(scan, left, right):
                equations.append(_check(scan, left, right, env, ahead))
        # Definitions take effect after their chain: "d = \frac{D}{h} = 64" defines d = 64.
        for i, side in enumerate(chain):
            if side is not None and side.kind == "name":
                target = stated_after[i]
                if target is not None and target.kind != "grouped":
                    kind, sizes, _ = _stated_unit(scan, target)  # "\tau = 312 teraFLOPs"
                    scale = sizes[0] if kind == "flops" else 1
                    define(side.tree[1], target.value * scale,
                           scan.line_of(scan.toks[side.start].start))
    for left, right in _arrow_conversions(scan):  # "4e7 s → 1.11 × 10⁴ h → 463 d"
        e = _check(scan, left, right, env, ahead)
        if e.verdict == "ok" or _near(e):  # else "becomes": "80 GB → 1 TB", "2 hours → 30 min"
            equations.append(e)
    for _, line, name, value in listed:
        define(name, value, line)


# Lists and tables of dimensions: a line that may be a table row or a list item
_LISTED_LINE = re.compile(r"^[ \t]*(?:\||[-*+\u2022][ \t]|\d{1,3}[.)][ \t])[^\n]*", re.M)
_BULLET = re.compile(r"[ \t]*(?:[-*+\u2022]|\d{1,3}[.)])[ \t]+")
_TABLE_RULE = re.compile(r"[ \t]*:?-{3,}:?[ \t]*")
_VALUE_START = re.compile(r"[ \t*_$`]*[0-9.]")
_VALUE_EXPRESSION = re.compile(r"[ \t*_$`]*[0-9.,]+[ \t]*(?:[x\u00d7*\u00b7/^+\-=(]|\\[a-z])")
_NAME_WORD = re.compile(r"[A-Za-z][A-Za-z_]*")
_UNESCAPED_BAR = re.compile(r"(?<!\\)\|")


def _cell_names(cell: str) -> list[str]:
    """The symbols a table cell or a list item's name names: "Layers ($L$)" gives L,
    "`d_model`" d_model; at most three, else none."""
    return list(_cell_symbols(cell))


@functools.lru_cache(maxsize=4096)  # a table's names and figures recur from row to row
def _cell_symbols(cell: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(t.text for t in _tokenize(cell) if t.kind == "IDENT"))
    return names if len(names) <= 3 else ()


@functools.lru_cache(maxsize=4096)
def _cell_value(cell: str) -> Fraction | None:
    """The number a table cell or a list item's value states ("4,096", "32k", "12 (heads)"):
    a number that is not part of an expression ("2 × 64", "768 / 12" state none)."""
    if not _VALUE_START.match(cell) or _VALUE_EXPRESSION.match(cell):
        return None  # most cells and items state no number, or an expression: skip them fast
    toks = [t for t in _tokenize(cell.strip(" \t*_")) if t.kind != "LABEL"]  # **12**
    if not toks or toks[0].kind != "NUM" or toks[0].value is None:
        return None
    if len(toks) > 1 and (toks[1].kind in ("OP", "IDENT", "NUM", "FRAC", "ROOT", "EQ", "BLOCK")
                          or (toks[1].kind == "OPEN" and not toks[1].spaced)):
        return None
    return toks[0].value


def _listed_definitions(scan: _Scan) -> list[tuple[int, int, str, Fraction]]:
    """The definitions a piece states in lists ("- n_layers: 32", "* heads = 32") and
    Markdown tables ("| d_model | 4096 |" rows, or a row of names over one row of numbers),
    as (offset, line, name, value) in order. Lines inside fenced code or math are not read."""
    if scan.source is None:
        return []
    regions, (lo, hi), _ = scan.source
    prose = [(a, b) for a, b, is_math in regions if not is_math and a < b]
    starts = [a for a, _ in prose]
    out: list[tuple[int, int, str, Fraction]] = []
    table: list[tuple[int, list[str]]] = []

    def in_prose(offset: int) -> bool:
        k = bisect.bisect_right(starts, offset) - 1
        return k >= 0 and prose[k][0] <= offset < prose[k][1]

    def flush() -> None:
        out.extend(_table_definitions(scan, table))
        table.clear()

    previous_end = -2
    for m in _LISTED_LINE.finditer(scan.text, lo, hi):
        if not in_prose(m.start()):
            continue
        line = m.group()
        if m.start() != previous_end + 1 and table:
            flush()
        previous_end = m.end()
        if line.lstrip().startswith("|"):
            cells = _UNESCAPED_BAR.split(line.strip())
            table.append((m.start(), cells[1:-1] if line.rstrip().endswith("|") else cells[1:]))
            continue
        if table:
            flush()
        content = line[_BULLET.match(line).end():]
        cut = re.search(r"(?<![=<>!:])[:=](?![=])", content)
        if cut is None:
            continue
        name_part, value_part = content[:cut.start()], content[cut.end():]
        word = _NAME_WORD.fullmatch(name_part.strip(" \t*_`"))
        if cut.group() == "=" and (word is None or len(word.group()) < 2 or "_" in word.group()):
            continue  # "- L = 32", "- d_model = 768": the "=" chain defines it
        value = _cell_value(value_part)
        if value is None:
            continue
        names = _cell_names(name_part) if cut.group() == ":" else []
        if not names:
            names = [word.group()] if word else []
        for name in names:
            out.append((m.start(), scan.line_of(m.start()), name, value))
    flush()
    return out


def _table_definitions(scan: _Scan, rows: list[tuple[int, list[str]]]):
    """The definitions of one Markdown table: each row whose first cell names symbols and
    one other cell states a number; or a header row of names over one row of numbers."""
    rows = [(at, cells) for at, cells in rows
            if not all(_TABLE_RULE.fullmatch(c) for c in cells)]
    for at, cells in rows:  # | Layers (L) | 12 |
        values = [v for v in map(_cell_value, cells[1:]) if v is not None]
        names = _cell_names(cells[0]) if len(values) == 1 and len(cells) > 1 else []
        for name in names:
            yield at, scan.line_of(at), name, values[0]
    if len(rows) == 2:  # | d_model | n_layers | over | 768 | 12 |
        (_, header), (at, data) = rows
        if len(header) == len(data):
            for head, cell in zip(header, data):
                names, value = _cell_names(head), _cell_value(cell)
                if value is not None and _cell_value(head) is None:
                    for name in names:
                        yield at, scan.line_of(at), name, value


def _conversion(scan: _Scan, left: _Side | None, right: _Side | None) -> bool:
    """Whether "number = number" converts a size or a duration: the right one in a unit of
    bytes or seconds bigger than the base one (GB, days), the left one in the base unit or
    another of the same kind ("5.6e10 = 52GB", "28 billion bytes = 28 GB", "1 hour = 60
    minutes"); other numbers side by side ("GPT-2 = 124M", "1 token = 2 bytes") are not."""
    if left is None or right is None or left.kind != "number" or right.kind != "number":
        return False
    kind, sizes, name = _stated_unit(scan, right)
    if not kind or max(sizes) == 1:
        return False
    num = next(i for i in range(left.start, left.end) if scan.toks[i].kind == "NUM")
    mine = _unit(scan, num + 1)
    # nothing between the number and "=", and no magnitude: "7B = 14 GB" states what a
    # count of parameters takes (at 2 bytes each), it converts nothing
    bare = num + 1 == left.end and not scan.toks[num].shift
    return (bare and kind == "bytes") or (mine[0] == kind and mine[2] != name)


def _carried(scan: _Scan, before: _Side | None, side: _Side, env: dict[str, Fraction],
             ahead: set) -> tuple[Equation, _Side, tuple | None] | None:
    """A chain's side whose first factor restates the number before it in another unit
    ("327,680 = 0.33MB / token x 131072 = 42.95GB": 0.33 MB is 327,680 bytes, rounded):
    (that conversion's check, the side read with the exact value it restates in place of
    the rounded one, (the number as written, that value)); the side is unchanged when the
    conversion does not hold. None for any other side."""
    if before is None or before.kind != "number" or side.kind != "expr" or side.tree is None:
        return None
    path, node = [], side.tree
    while node[0] in ("mul", "div"):
        path.append(node)
        node = node[1]
    lead = scan.toks[side.start]
    if not path or node[0] != "num" or lead.kind != "NUM" or lead.value != node[1]:
        return None
    restated = _classify(scan, _Side(side.start, side.start + 1, node), -1)
    if restated.kind != "number" or not _conversion(scan, before, restated):
        return None
    conversion = _check(scan, before, restated, env, ahead)
    if conversion.verdict != "ok":
        return conversion, side, None
    value = (conversion.stated * conversion.unit - conversion.difference) / conversion.unit
    tree = ("num", value)
    for parent in reversed(path):
        tree = (parent[0], tree, parent[2])
    return conversion, replace(side, tree=tree), (lead.text, value)


ARROW_NEAR = Fraction(1, 10)  # how far off an arrow's conversion may be and still be one


def _near(e: Equation) -> bool:
    """Whether the wrong equation ``e`` comes near its stated number in its nearest reading:
    off by at most ARROW_NEAR of it (a slip in a conversion, 1,000 for 1,024), not a
    different quantity ("14 GB → 28 GiB after the upgrade" says what a size becomes)."""
    if e.verdict != "wrong" or e.difference is None:
        return False
    whole = abs(e.stated * e.unit)
    return whole != 0 and abs(e.difference) <= ARROW_NEAR * whole


def _arrow_conversions(scan: _Scan) -> Iterator[tuple[_Side, _Side]]:
    """The pairs of quantities an arrow joins as a conversion: on either side one number
    (or N × 10^k) with a unit, of one kind (a duration, a size, a count of FLOPs) in two
    units ("40 million seconds → 1.11 × 10⁴ h → 463 d"); "2 GPUs → 4 days" converts
    nothing, nor does "14 GB → 28 GB" (the same unit: a change, not a conversion)."""
    toks = scan.toks
    arrows = [i for i in scan.indices("SEP") if (toks[i].text in _ARROWS or toks[i].text == ">")
              and _arrow_ending(toks, i) is not None]
    for k, a in enumerate(arrows):
        first = _arrow_ending(toks, a)
        lo = arrows[k - 1] + 1 if k else 0
        hi = _arrow_ending(toks, arrows[k + 1]) if k + 1 < len(arrows) else len(toks)
        found = scan.left_side(first, lo)
        right = scan.right_side(a, hi)
        if found is None or right is None or right[1] is None:
            continue
        left = _classify(scan, _Side(found[0], first, found[1]), first)
        right = _classify(scan, _Side(right[0], right[2], right[1]), -1)
        if left.kind not in ("number", "sci") or right.kind not in ("number", "sci"):
            continue
        mine, stated = _stated_unit(scan, left), _stated_unit(scan, right)
        if mine[0] and mine[0] == stated[0] and mine[2] != stated[2]:
            yield left, right


def _identity(scan: _Scan, left: _Side, right: _Side, env: dict[str, Fraction],
              budget: list[int]) -> Identity | None:
    """Two sides with unknowns compared as functions of them (``Identity``).

    Four readings are tried in turn, and the first that makes the sides one function wins:
    as parsed; with "s/6h" as s/(6h); with each unknown name of 2-4 plain letters split into
    its letters, as math typesetting means "$2Ld$" (2·L·d); both. The verdict 'wrong' is
    given when the sides use the same unknowns in the plain reading (or, when they do not,
    in the split one) and no reading makes them one function."""
    toks, text = scan.toks, scan.text
    approximate = scan.approximate(left.end, right.start)
    found = None  # (tight, split, difference) of the reading that decides
    tried = []
    for tight, split in ((False, False), (True, False), (False, True), (True, True)):
        trees = [left.tree, right.tree] if not tight else [_tight(scan, t) for t in (left, right)]
        if None in trees:
            continue
        trees = [_split_names(t, env) for t in trees] if split else trees
        if trees in tried:  # the same reading as one before: nothing new to learn
            continue
        tried.append(trees)
        try:
            f = _multi(trees[0], env, budget) - _multi(trees[1], env, budget)
        except (_Unevaluable, ZeroDivisionError):
            continue
        sides = [set(_symbols(t)) - env.keys() for t in trees]
        names = [n for n in dict.fromkeys(_symbols(trees[0]) + _symbols(trees[1]))]
        if not f.p:
            found = (tight, split, f, sides, names)
            break
        if found is None or (found[3][0] != found[3][1] and sides[0] == sides[1]
                             and not tight):
            found = (tight, split, f, sides, names)  # the plain reading, else the split one
    if found is None:  # no reading has a value (K^T: an unknown exponent): nothing to say
        budget[1] += budget[0] < 0  # ... or the budget was spent: counted, for a warning
        return None
    applied = _applied(scan, left.start, right.end)
    tight, split, diff, sides, names = found
    if not diff.p:
        verdict, unknowns = "ok", tuple(n for n in names if n not in env)
    elif sides[0] == sides[1] and not approximate and not applied:
        verdict, unknowns = "wrong", tuple(n for n in names if n not in env)
    else:  # holds only for some values, or only where the difference is negligible
        verdict = "unknown"
        unknowns = tuple(n for n in names if n in sides[0] ^ sides[1]) or tuple(
            n for n in names if n not in env)
    start, end = toks[left.start].start, toks[left.end - 1].end
    used = dict.fromkeys(_symbols(left.tree) + _symbols(right.tree))
    return Identity(
        line=scan.line_of(start), expression=text[start:end].strip(),
        stated_text=text[toks[right.start].start:toks[right.end - 1].end].strip(),
        verdict=verdict, unknowns=unknowns,
        difference="" if not diff.p else _difference_text(diff),
        approximate=approximate, tight=tight and verdict == "ok", split=split,
        span=(start, end), bindings=tuple((n, env[n]) for n in used if n in env),
        applied=applied if verdict == "unknown" else ())


def _applied(scan: _Scan, first: int, end: int) -> tuple[str, ...]:
    """The names written as functions among tokens first..end-1: a name or a label
    (\\mathcal{O}) glued to "(", as in O(n^2), T(n/2), f(x). Read as products, an identity
    between them could be called wrong when it is big-O or a recurrence."""
    out = []
    for i in range(first, min(end, len(scan.toks)) - 1):
        tok, nxt = scan.toks[i], scan.toks[i + 1]
        before = scan.toks[i - 1] if i > first else None
        glued = before is not None and before.end == tok.start and before.kind in (
            "NUM", "IDENT", "CLOSE")  # "2L(d + 1)" is a product
        if nxt.kind == "OPEN" and nxt.text == "(" and tok.end == nxt.start and not glued and (
                tok.kind == "IDENT" or (tok.kind == "LABEL" and tok.text.startswith("\\"))):
            out.append(tok.text)
    return tuple(dict.fromkeys(out))


_LETTER_RUN = re.compile(r"[A-Za-z]{2,4}")


def _split_names(tree: tuple, env: Mapping[str, Fraction]) -> tuple:
    """The tree with each unknown name of 2-4 plain letters read as the product of its
    letters, as math typesetting means it: "Ld" is L·d, and "bsh^2" is b·s·h^2."""
    if tree[0] == "sym" or (tree[0] == "pow" and tree[1][0] == "sym"):
        name = tree[1] if tree[0] == "sym" else tree[1][1]
        if name in env or not _LETTER_RUN.fullmatch(name):
            return tree if tree[0] == "sym" else ("pow", tree[1], _split_names(tree[2], env))
        letters = [("sym", letter) for letter in name]
        if tree[0] == "pow":  # the power is the last letter's
            letters[-1] = ("pow", letters[-1], _split_names(tree[2], env))
        out = letters[0]
        for letter in letters[1:]:
            out = ("mul", out, letter)
        return out
    if tree[0] in ("num", "grouped", "big"):
        return tree
    return (tree[0],) + tuple(_split_names(child, env) for child in tree[1:])


def _tight(scan: _Scan, side: _Side) -> tuple | None:
    """The side's tree with an implicit product after "/" read into the divisor."""
    parser = _Parser(scan, side.start, side.end, tight=True)
    try:
        tree = parser.expression()
    except _ParseError:
        return None
    return tree if scan.next_sig(parser.i, side.end) == side.end else None
