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
