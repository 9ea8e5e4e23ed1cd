"""``record``: flopcalc's frozen dataclasses, made without generating code at import.

``@dataclass(frozen=True)`` writes an ``__init__``, ``__repr__``, ``__eq__``, ``__hash__``,
``__setattr__`` and ``__delattr__`` for each class as source text and compiles it: about
10 ms of every start-up for the six classes ``flopcalc flops`` needs (Architecture alone
has 46 fields). ``record`` lets ``dataclasses`` keep the fields (so ``dataclasses.fields``,
``replace``, ``asdict`` and ``is_dataclass`` work as before) and gives every record the
same six methods, written once here, which read each class's fields from a table made
when it is decorated.
"""

from dataclasses import MISSING, FrozenInstanceError, dataclass, fields
from operator import attrgetter


class _Fields:
    """A record class's fields, as its methods read them (a plain class: a NamedTuple costs
    more to create than the records it serves)."""

    __slots__ = ("init", "keywords", "defaults", "required", "values", "shown")

    def __init__(self, init: tuple[str, ...], keywords: frozenset, defaults: dict,
                 required: tuple[str, ...], values: attrgetter, shown: tuple[str, ...]):
        self.init = init                # the __init__ parameters, in order
        self.keywords = keywords        # the same, as a set
        self.defaults = defaults        # every field (in order) to its default; MISSING: required
        self.required = required        # the fields without a default
        self.values = values            # an instance's field values: a tuple (of one: the value)
        self.shown = shown              # the fields the repr shows


def record(cls: type) -> type:
    """``cls`` as a frozen dataclass: fields with defaults and ``__post_init__`` as
    ``@dataclass(frozen=True)`` takes them; equality, hash and repr over the fields in
    order; assigning or deleting a field raises ``dataclasses.FrozenInstanceError``
    (``__post_init__`` sets derived fields with ``object.__setattr__``, as before)."""
    cls = dataclass(cls, init=False, repr=False, eq=False)
    every = fields(cls)
    for f in every:
        if f.default_factory is not MISSING or f.kw_only:
            raise TypeError(f"record {cls.__name__}.{f.name}: default_factory and kw_only "
                            f"are not supported")
    names = tuple(f.name for f in every)
    init = tuple(f.name for f in every if f.init)
    cls._fields_ = _Fields(init, frozenset(init), {f.name: f.default for f in every},
                           tuple(f.name for f in every if f.default is MISSING),
                           attrgetter(*names),
                           tuple(f.name for f in every if f.repr))
    cls.__init__, cls.__repr__, cls.__eq__, cls.__hash__ = _init, _repr, _eq, _hash
    cls.__setattr__, cls.__delattr__ = _setattr, _delattr
    cls.__signature__ = _Signature()
    return cls


def _init(self, *args, **kwargs) -> None:
    spec = self._fields_
    if len(args) > len(spec.init):
        _bad_call(self, f"takes from {1 + len(spec.required)} to {1 + len(spec.init)} "
                        f"positional arguments but {1 + len(args)} were given")
    values = spec.defaults.copy()
    values.update(zip(spec.init, args))
    if kwargs:
        for name in kwargs:
            if name not in spec.keywords:
                _bad_call(self, f"got an unexpected keyword argument {name!r}")
            if name in spec.init[:len(args)]:
                _bad_call(self, f"got multiple values for argument {name!r}")
        values.update(kwargs)
    missing = [repr(name) for name in spec.required if values[name] is MISSING]
    if missing:
        listed = (" and ".join(missing) if len(missing) < 3 else
                  ", ".join(missing[:-1]) + ", and " + missing[-1])
        _bad_call(self, f"missing {len(missing)} required positional "
                        f"{'argument' if len(missing) == 1 else 'arguments'}: {listed}")
    self.__dict__.update(values)
    post_init = getattr(self, "__post_init__", None)
    if post_init is not None:
        post_init()


def _bad_call(record, message: str) -> None:
    """The TypeError Python raises for a bad call of a generated ``__init__``."""
    raise TypeError(f"{type(record).__name__}.__init__() {message}")


def _repr(self) -> str:
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields_.shown)
    return f"{type(self).__qualname__}({shown})"


def _eq(self, other):
    if other.__class__ is not self.__class__:
        return NotImplemented
    values = self._fields_.values
    return values(self) == values(other)


def _hash(self) -> int:
    return hash(self._fields_.values(self))


def _setattr(self, name: str, value) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _delattr(self, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


class _Signature:
    """A record class's ``__signature__`` (what ``help`` and ``inspect.signature`` show):
    its fields as keyword parameters with their defaults, made when first asked for."""

    def __get__(self, instance, cls):
        import inspect  # (not otherwise imported by the library)

        parameters = [inspect.Parameter(f.name, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                        default=inspect.Parameter.empty
                                        if f.default is MISSING else f.default,
                                        annotation=f.type)
                      for f in fields(cls) if f.init]
        return inspect.Signature(parameters, return_annotation=None)
