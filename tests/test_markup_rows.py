"""The rows filter prints exactly what a jinja loop over the same rows printed."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from jinja2 import Environment
from markupsafe import Markup

from generator.site.markup import escape_each, format_rows
from tests.site_fixtures import PAYLOADS


@dataclass(frozen=True)
class Row:
    id: str
    code: str


def test_escape_each_is_escape_of_each_value() -> None:
    values = [*PAYLOADS, "", "a\x1fb", "&amp;", 3]
    assert escape_each(values) == [str(Markup.escape(v)) for v in values]
    assert escape_each(["x\x1f", "\x1fy"]) == ["x\x1f", "\x1fy"]  # the separator in a value: escaped one by one


def test_rows_match_a_jinja_loop() -> None:
    env = Environment(autoescape=True)
    env.filters["rows"] = format_rows
    tuples = [(p, f"{p}\x1f{{0}}") for p in PAYLOADS]
    objects = [Row(p, p + "}{id}") for p in PAYLOADS]
    filtered = env.from_string(
        '{% set t %}<dt title="{1}">{0}</dt>{% endset %}{% set o %}<p id="x-{id}">{code} {id}</p>{% endset %}'
        "{{ tuples|rows(t) }}|{{ objects|rows(o) }}|{{ [][:0]|rows(t) }}"
    ).render(tuples=tuples, objects=objects)
    looped = env.from_string(
        '{% for a, b in tuples %}<dt title="{{ b }}">{{ a }}</dt>{% endfor %}|'
        '{% for r in objects %}<p id="x-{{ r.id }}">{{ r.code }} {{ r.id }}</p>{% endfor %}|'
    ).render(tuples=tuples, objects=objects)
    assert filtered == looped
    assert "<script>" not in filtered


def test_a_pattern_is_template_markup_not_a_value() -> None:
    with pytest.raises(TypeError):
        format_rows([("<b>",)], "<i>{0}</i>")
    with pytest.raises(ValueError):
        format_rows([("a", "b", "c")], Markup("<i>{0}{1}</i>"))
