"""records.row makes a named tuple as typing.NamedTuple does, without generating code: the
standard library's NamedTuple is the specification each behaviour is checked against."""

import pickle
from typing import NamedTuple

import pytest

from flopcalc.records import row


@row
class Point:
    """A point, with a default z."""
    x: int
    y: int
    z: int = 0

    @property
    def norm1(self) -> int:
        return abs(self.x) + abs(self.y) + abs(self.z)

    def shifted(self, d: int) -> "Point":
        return self._replace(x=self.x + d)


class Spec(NamedTuple):
    x: int
    y: int
    z: int = 0


@pytest.mark.parametrize("args, kwargs", [((1, 2), {}), ((1, 2, 3), {}), ((1,), {"y": 2}),
                                          ((), {"y": 2, "x": 1, "z": 5}), ((1, 2), {"z": 7})])
def test_made_from_positions_and_names_as_a_namedtuple_is(args, kwargs):
    p, s = Point(*args, **kwargs), Spec(*args, **kwargs)
    assert tuple(p) == tuple(s) and (p.x, p.y, p.z) == (s.x, s.y, s.z)
    assert p == s and hash(p) == hash(s)  # tuple equality and hash


@pytest.mark.parametrize("args, kwargs", [((1,), {}), ((1, 2, 3, 4), {}), ((1, 2), {"w": 1}),
                                          ((1, 2), {"x": 1}), ((), {"z": 1})])
def test_wrong_arguments_raise_type_error_as_a_namedtuple_does(args, kwargs):
    with pytest.raises(TypeError):
        Spec(*args, **kwargs)
    with pytest.raises(TypeError):
        Point(*args, **kwargs)


def test_the_namedtuple_api():
    p = Point(1, -2)
    assert Point._fields == ("x", "y", "z") and Point._field_defaults == {"z": 0}
    assert p._asdict() == {"x": 1, "y": -2, "z": 0}
    assert p._replace(y=5) == (1, 5, 0) and type(p._replace(y=5)) is Point
    assert Point._make([4, 5, 6]) == (4, 5, 6) and type(Point._make([4, 5, 6])) is Point
    with pytest.raises(TypeError):
        Point._make([1, 2])
    with pytest.raises(TypeError):
        p._replace(w=1)
    assert repr(p) == "Point(x=1, y=-2, z=0)" == repr(Spec(1, -2)).replace("Spec", "Point")


def test_methods_properties_and_docstring_are_kept():
    p = Point(1, -2, 3)
    assert p.norm1 == 6 and p.shifted(10) == (11, -2, 3)
    assert Point.__doc__ == "A point, with a default z."


def test_immutable_and_without_an_instance_dict():
    p = Point(1, 2)
    with pytest.raises(AttributeError):
        p.x = 3
    with pytest.raises(AttributeError):
        p.extra = 1


def test_pickles_and_matches_by_position():
    p = Point(1, 2, 3)
    assert pickle.loads(pickle.dumps(p)) == p and type(pickle.loads(pickle.dumps(p))) is Point
    match p:
        case Point(a, b, c):
            assert (a, b, c) == (1, 2, 3)


def test_a_field_without_a_default_after_one_with_is_refused():
    with pytest.raises(TypeError):
        @row
        class Bad:
            a: int = 0
            b: int
