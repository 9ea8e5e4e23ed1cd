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
from operator import attrgetter, itemgetter


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


def row(cls: type) -> type:
    """``cls`` as a named tuple: its annotated class attributes are the fields in order
    (those given a value have it as their default), its methods and properties are kept,
    as ``typing.NamedTuple`` makes one. Made without generating code (``NamedTuple``
    compiles a ``__new__`` for each class and checks every annotation: about 0.6 M
    instructions a class, at every start-up): ``_fields``, ``_field_defaults``,
    ``_replace``, ``_asdict``, ``_make``, the repr and pickling work as a NamedTuple's."""
    namespace = dict(cls.__dict__)
    names = tuple(namespace.get("__annotations__", {}))
    defaults = {name: namespace.pop(name) for name in names if name in namespace}
    if list(defaults) != list(names[len(names) - len(defaults):]):
        raise TypeError(f"row {cls.__name__}: a field without a default after one with")
    for key in ("__dict__", "__weakref__"):
        namespace.pop(key, None)
    for i, name in enumerate(names):
        namespace[name] = property(itemgetter(i), doc=f"Alias for field number {i}")
    namespace.update(
        __slots__=(), _fields=names, _field_defaults=defaults, __match_args__=names,
        _tail=tuple(defaults.values()), _required=len(names) - len(defaults),
        __new__=_row_new, _make=classmethod(_row_make), _replace=_row_replace,
        _asdict=_row_asdict, __repr__=_row_repr, __getnewargs__=_row_newargs)
    return type(cls.__name__, (tuple,), namespace)


def _row_new(cls, *args, **kwargs):
    count = len(cls._fields)
    if not kwargs:  # the common call, all fields positional or the last ones left out
        given = len(args)
        if given == count:
            return tuple.__new__(cls, args)
        if cls._required <= given < count:
            return tuple.__new__(cls, args + cls._tail[given - cls._required:])
    if len(args) > count:
        raise TypeError(f"{cls.__name__}.__new__() takes {count + 1} positional arguments "
                        f"but {len(args) + 1} were given")
    values = dict(zip(cls._fields, args))
    for name, value in kwargs.items():
        if name not in cls._fields:
            raise TypeError(f"{cls.__name__}.__new__() got an unexpected keyword argument "
                            f"{name!r}")
        if name in values:
            raise TypeError(f"{cls.__name__}.__new__() got multiple values for argument "
                            f"{name!r}")
        values[name] = value
    missing = [name for name in cls._fields[len(args):cls._required] if name not in values]
    if missing:
        raise TypeError(f"{cls.__name__}.__new__() missing {len(missing)} required "
                        f"argument{'s' if len(missing) > 1 else ''}: "
                        f"{', '.join(map(repr, missing))}")
    return tuple.__new__(cls, [values.get(name, cls._field_defaults.get(name))
                               for name in cls._fields])


def _row_make(cls, iterable):
    values = tuple.__new__(cls, iterable)
    if len(values) != len(cls._fields):
        raise TypeError(f"Expected {len(cls._fields)} arguments, got {len(values)}")
    return values


def _row_replace(self, **changes):
    values = dict(zip(self._fields, self))
    for name in changes:
        if name not in values:
            raise TypeError(f"Got unexpected field names: {list(changes)!r}")
    values.update(changes)
    return tuple.__new__(type(self), values.values())


def _row_newargs(self) -> tuple:
    return tuple(self)


def _row_asdict(self) -> dict:
    return dict(zip(self._fields, self))


def _row_repr(self) -> str:
    shown = ", ".join(f"{name}={value!r}" for name, value in zip(self._fields, self))
    return f"{type(self).__qualname__}({shown})"
