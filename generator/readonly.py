"""A read-only mapping for the documents and small tables that records hold.

Records are frozen, but a frozen dataclass holding a plain dict is not: any
stage could change a dataset's facts under another's feet. ``ReadOnlyDict``
refuses every change. It subclasses ``dict`` on purpose: ``json.dumps``,
pydantic and zarr-python take it as the JSON object it is, and every
``isinstance(x, dict)`` check in the parsers keeps working. It pickles (unlike
``types.MappingProxyType``), which the records need to cross process
boundaries.
"""

from __future__ import annotations

from collections import abc
from typing import Any, Mapping, NoReturn


class ReadOnlyDict(dict):  # type: ignore[type-arg]
    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("a record's mapping is read-only: build a new record instead")

    __setitem__ = __delitem__ = __ior__ = _refuse  # type: ignore[assignment]
    clear = pop = popitem = setdefault = update = _refuse  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:
        # Unpickling a dict subclass sets items one by one, which this class
        # refuses: rebuild it from a plain dict instead.
        return (type(self), (dict(self),))

    def __copy__(self) -> ReadOnlyDict:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> ReadOnlyDict:
        return self

    def __repr__(self) -> str:
        return f"ReadOnlyDict({dict.__repr__(self)})"


EMPTY: ReadOnlyDict = ReadOnlyDict()
# Members that need no freezing. Checked by exact type first: an isinstance
# test against typing.Mapping costs microseconds, and a 100,000-row catalog
# freezes millions of CSV cells.
_SCALARS = frozenset({str, int, float, bool, type(None)})


def freeze(value: Mapping[str, Any]) -> ReadOnlyDict:
    """``value`` as a read-only mapping, nested objects too (lists stay lists)."""
    if type(value) is ReadOnlyDict:
        return value  # already frozen all the way down
    if _SCALARS.issuperset(map(type, value.values())):
        return ReadOnlyDict(value)
    return ReadOnlyDict((k, _freeze_member(v)) for k, v in value.items())


def freeze_optional(value: Mapping[str, Any] | None) -> ReadOnlyDict | None:
    return None if value is None else freeze(value)


def _freeze_member(v: Any) -> Any:
    kind = type(v)
    if kind in _SCALARS:
        return v
    # Parsed JSON holds plain dicts and lists: exact types first, the ABC only for the rest.
    if kind is dict or kind is ReadOnlyDict or (kind is not list and isinstance(v, abc.Mapping)):
        return freeze(v)
    if kind is list:
        # A list's objects are frozen; the list itself stays a list, which is
        # what the JSON parsers and the spec models expect.
        return v if _SCALARS.issuperset(map(type, v)) else [_freeze_member(x) for x in v]
    return v
