"""Sizes that record the integer arithmetic done on them, written out as one Python function.

The sweep's compiled path (``sweep.compile_model``) runs a model's builders and ``RULES``
once over ``Traced`` sizes instead of ints. Every ``+``, ``-``, ``·``, ``//`` and min/max
they do on a size becomes a node, and ``function`` writes the nodes out as a Python function
of ints: the same int arithmetic that ``flop_report`` does at any point where the builders
take the same branches, so the same exact ints, and no sympy. Equal nodes are computed once.
"""

from __future__ import annotations


class Traced:
    """A size, or an operation on sizes and ints. Two nodes are equal when they are the same
    operation on equal arguments (as sympy's ``==`` compares expressions); there is no
    order (``<`` on a traced size raises)."""

    __slots__ = ("op", "args", "_hash")

    def __init__(self, op: str, args: tuple):
        self.op, self.args = op, args
        self._hash = hash((op, args))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other) -> bool:
        return self is other or (isinstance(other, Traced) and self._hash == other._hash
                                 and self.op == other.op and self.args == other.args)

    def __ne__(self, other) -> bool:
        return not self == other

    def __repr__(self) -> str:
        return self.args[0] if self.op == "size" else f"{self.op}{self.args}"

    def __add__(self, other):
        return self if _is(other, 0) else node("+", self, other)

    def __radd__(self, other):
        return self if _is(other, 0) else node("+", other, self)

    def __sub__(self, other):
        if self == other:
            return 0
        return self if _is(other, 0) else node("-", self, other)

    def __rsub__(self, other):
        return node("-", other, self)

    def __neg__(self):
        return node("-", 0, self)

    def __mul__(self, other):
        return product(self, other)

    __rmul__ = __mul__

    def __floordiv__(self, other):
        return self if _is(other, 1) else node("//", self, other)

    def __rfloordiv__(self, other):
        return node("//", other, self)


def _is(x, value: int) -> bool:
    return type(x) is int and x == value


def size(name: str) -> Traced:
    """The size called ``name`` (the compiled function's argument of that name)."""
    return Traced("size", (name,))


def product(a, b) -> Traced | int:
    """a · b, its int factors gathered in front (2 · (x · 12) is 24 · x): fewer
    multiplications."""
    (ca, xa), (cb, xb) = _split(a), _split(b)
    c = ca * cb
    x = xa if xb is None else xb if xa is None else Traced("*", (xa, xb))
    return c if x is None or c == 0 else x if c == 1 else Traced("*", (c, x))


def _split(x) -> tuple:
    """(int factor, the rest or None) of x."""
    if type(x) is int:
        return x, None
    if x.op == "*" and type(x.args[0]) is int:
        return x.args
    return 1, x


def node(op: str, *args) -> Traced | int:
    """``op`` ("+", "-", "//", "min" or "max"; ``product`` multiplies) on ``args`` (traced
    sizes or ints)."""
    if all(type(a) is int for a in args):
        return _INT_OPS[op](*args)
    return Traced(op, args)


_INT_OPS = {"+": int.__add__, "-": int.__sub__, "//": int.__floordiv__, "min": min, "max": max}


def is_traced(*values) -> bool:
    """Whether any of ``values`` is traced (model.py's min, max and half, common.py's ceil)."""
    return any(isinstance(v, Traced) for v in values)


def function(name: str, arguments: dict[str, int], results) -> str:
    """The source of ``def name(a): return (results…,)``, the traced sizes read from the
    list ``a`` (``arguments``: each size's index in it), each node of the ``results``
    (traced, or ints) computed once, in an order where its arguments come first."""
    lines, local = [], {}

    def ref(x) -> str:
        if type(x) is int:
            return f"({x})" if x < 0 else str(x)
        if x.op == "size":
            if x not in local:
                local[x] = x.args[0]
                lines.insert(0, f"    {x.args[0]} = a[{arguments[x.args[0]]}]")
            return local[x]
        if x not in local:
            a = [ref(arg) for arg in x.args]
            local[x] = f"_{len(lines)}"
            body = f"{x.op}({', '.join(a)})" if x.op in ("min", "max") else f" {x.op} ".join(a)
            lines.append(f"    {local[x]} = {body}")
        return local[x]

    out = [ref(r) for r in results]
    return (f"def {name}(a):\n" + "".join(line + "\n" for line in lines)
            + f"    return ({', '.join(out)},)\n")


def column_function(name: str, arguments: dict[str, int], vector: frozenset, results) -> str:
    """The source of ``def name(a, x): return (columns…,)``: the ``results`` at many points
    at once, the points that differ only in the sizes named in ``vector``, which all take
    the values of the list ``x`` (a swept seq_len, and a decode position that follows it).
    Every other size is read from ``a`` as in ``function``. Each result is a list of one int
    per value of ``x``.

    A node that no vector size reaches is computed once; the others element by element in
    C (``map`` of the ``operator`` functions), the same int operations as ``function``'s.
    Sums and products are regrouped, which whole numbers allow exactly: the factors that
    do not vary are multiplied first, so that an operation's FLOPs (2·B·L·D·3D·n_layers, all
    but L fixed) cost one multiplication per point."""
    lines, local, varies = [], {}, {}

    def is_vector(x) -> bool:
        if type(x) is int:
            return False
        if x not in varies:
            varies[x] = (x.args[0] in vector if x.op == "size"
                         else any(is_vector(arg) for arg in x.args))
        return varies[x]

    def emit(x, body: str) -> str:
        local[x] = f"_{len(lines)}"
        lines.append(f"    {local[x]} = {body}")
        return local[x]

    def scalar(x) -> str:
        if type(x) is int:
            return f"({x})" if x < 0 else str(x)
        if x not in local:
            if x.op == "size":
                local[x] = x.args[0]
                lines.insert(0, f"    {x.args[0]} = a[{arguments[x.args[0]]}]")
            else:
                a = [scalar(arg) for arg in x.args]
                emit(x, f"{x.op}({', '.join(a)})" if x.op in ("min", "max")
                     else f" {x.op} ".join(a))
        return local[x]

    def operand(x) -> str:  # a column, or a scalar repeated
        return ref(x) if is_vector(x) else f"repeat({scalar(x)})"

    def terms(x, op: str) -> list:  # x's terms ("+") or factors ("*"), regrouped
        return [t for arg in x.args for t in terms(arg, op)] \
            if type(x) is not int and x.op == op else [x]

    def chain(op: str, parts) -> Traced | int | None:
        out = None
        for t in parts:
            out = t if out is None else Traced(op, (out, t))
        return out

    def canonical(parts) -> list:  # in one order (ints first): D·F and F·D are one node
        return sorted(parts, key=lambda t: (type(t) is not int, repr(t)))

    def collected(each) -> dict:  # {varying factor: [its fixed factors in each term]}
        out: dict = {}
        for t in each:
            factors = terms(t, "*")
            v = chain("*", [f for f in factors if is_vector(f)])
            fixed = canonical([f for f in factors if not is_vector(f)])
            out.setdefault(v, []).append(chain("*", fixed) if fixed else 1)
        return out

    def ref(x) -> str:
        if not is_vector(x):
            return scalar(x)
        if x in local:
            return local[x]
        if x.op == "size":
            local[x] = "x"
            return "x"
        if x.op in ("+", "*"):  # the varying parts together, then the fixed ones at once
            parts = terms(x, x.op)
            each = [t for t in parts if is_vector(t)]
            if x.op == "+":  # terms of one varying factor (L, L·L) summed as one: V·(S₁+S₂)
                each = [v if s == [1] else Traced("*", (v, chain("+", s)))
                        for v, s in collected(each).items()]
            each = chain(x.op, each)
            fixed = chain(x.op, canonical([t for t in parts if not is_vector(t)]))
            grouped = each if fixed is None else Traced(x.op, (each, fixed))
            if grouped != x:
                local[x] = ref(grouped)
                return local[x]
        function_name = _COLUMN_OPS[x.op]
        return emit(x, f"list(map({function_name}, {', '.join(map(operand, x.args))}))")

    out = [ref(r) if is_vector(r) else f"[{scalar(r)}] * len(x)" for r in results]
    return (f"def {name}(a, x):\n" + "".join(line + "\n" for line in lines)
            + f"    return ({', '.join(out)},)\n")


_COLUMN_OPS = {"+": "add", "-": "sub", "*": "mul", "//": "floordiv", "min": "min", "max": "max"}
