"""The ``rows`` template filter: a table's rows in one markup pattern, every value escaped.

Autoescaping makes each printed value a ``Markup`` object of its own (about
half a microsecond each, a hundred per dataset page, 100,000 pages). A
repeated row (a fact, an axis, a resolution level) is instead printed here
from a pattern the template writes in a ``{% set %}`` block, with its values
escaped by the same ``markupsafe.escape`` in one call per table. The pattern
must be ``Markup`` (template markup), never a value: no HTML is built from
remote strings.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import chain
from operator import attrgetter, itemgetter
from string import Formatter
from typing import Any, Callable, Sequence

from markupsafe import Markup, escape

# A character escape() keeps: the escape of values joined by it, split at it,
# is each value's escape (escaping is per character). A value holding one is
# escaped alone.
_SEP = "\x1f"


def escape_each(values: list[Any]) -> list[str]:
    """``str(markupsafe.escape(v))`` of each value, escaped in one call where they are all text."""
    try:
        joined = _SEP.join(values)
    except TypeError:  # a number: escape(3) is escape("3"), one at a time
        joined = None
    if joined is not None and joined.count(_SEP) == len(values) - 1:
        return str.split(escape(joined), _SEP)
    return [str(escape(v)) for v in values]


@lru_cache(maxsize=64)
def _parse(pattern: str) -> tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]] | None]:
    """The pattern's literal texts (one more than its fields) and the getter of
    a row's values in the order the fields appear: ``{0}`` is a tuple row's
    item, ``{name}`` an object row's attribute; a field may repeat."""
    texts: list[str] = []
    fields: list[str] = []
    for text, field, spec, conversion in Formatter().parse(pattern):
        if spec or conversion:
            raise ValueError(f"a row pattern's fields are plain names: {{{field}:{spec}}}")
        texts.append(text)
        if field is not None:
            fields.append(field)
    if len(texts) == len(fields):
        texts.append("")
    if not fields:
        raise ValueError("a row pattern has fields")
    if fields == [str(i) for i in range(len(fields))]:
        return tuple(texts), None  # a tuple row's items in order: the row itself
    get = itemgetter(*map(int, fields)) if all(f.isdigit() for f in fields) else attrgetter(*fields)
    getter = get if len(fields) > 1 else (lambda row: (get(row),))
    return tuple(texts), getter


@lru_cache(maxsize=512)
def _literals(pattern: str, n: int) -> tuple[str, ...]:
    """The literal texts of ``n`` rows of ``pattern``, between which their values go."""
    texts, _ = _parse(pattern)
    inner, between = list(texts[1:-1]), texts[-1] + texts[0]
    literals = [texts[0]]
    for i in range(n):
        literals += inner
        literals.append(between if i < n - 1 else texts[-1])
    return tuple(literals)


def format_rows(rows: Sequence[Any], pattern: Markup) -> Markup:
    """``pattern`` once per row (``{0}``, ``{1}`` … a tuple row's items,
    ``{name}`` an object row's attributes), each value escaped."""
    if not isinstance(pattern, Markup):
        raise TypeError("a row pattern is template markup (a {% set %} block), not a value")
    if not rows:
        return Markup()
    fmt = str(pattern)
    literals = _literals(fmt, len(rows))
    getter = _parse(fmt)[1]
    values = escape_each(list(chain.from_iterable(rows if getter is None else map(getter, rows))))
    if len(values) != len(literals) - 1:
        raise ValueError("a row has more or fewer values than the pattern's fields")
    # Literal texts and escaped values, interleaved: the values are not parsed as markup or format fields.
    out: list[str] = [""] * (len(literals) + len(values))
    out[0::2] = literals
    out[1::2] = values
    return Markup("".join(out))
