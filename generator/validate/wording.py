"""Schema findings in plain words: where in the document, what is wrong, which rule.

A jsonschema error names a keyword ("uniqueItems", "minContains"); a provider
needs the place ("multiscales[0].axes") and the rule in words ("axes must be
unique"). For ``anyOf``/``oneOf`` the most relevant branch's error is told.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from jsonschema.exceptions import ValidationError, best_match

SHORT = 60


def where(path: Any, *, strip_ome: bool) -> str:
    """``multiscales[0].axes`` for a JSON path (the "ome" wrapper of 0.5+ left out)."""
    parts = list(path)
    if strip_ome and parts and parts[0] == "ome":
        parts = parts[1:]
    text = ""
    for p in parts:
        text += f"[{p}]" if isinstance(p, int) else (f".{p}" if text else str(p))
    return text or "(document)"


def short(value: Any) -> str:
    """A value as a provider would write it: 'x' for a string, JSON otherwise, cut short."""
    text = f"'{value}'" if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= SHORT else text[: SHORT - 3] + "..."


def describe(error: ValidationError, *, strip_ome: bool) -> str:
    """One line: "place: what is wrong (the rule)"."""
    if error.validator in ("anyOf", "oneOf") and error.context and not _matches_one(error):
        branch = _closest_branch(error)
        if branch:
            inner = best_match(branch)
            if inner is not None:
                return describe(inner, strip_ome=strip_ome)
    return _line(error, strip_ome)


def _closest_branch(error: ValidationError) -> list[ValidationError]:
    """The errors of the alternative the document meant: its "type" matches, fewest errors.

    A transformation of "type": "affine" that lacks its matrix should hear
    about the matrix, not that it is no "mapAxis"."""
    branches: dict[Any, list[ValidationError]] = {}
    for e in error.context or ():
        branches.setdefault(e.relative_schema_path[0] if e.relative_schema_path else None, []).append(e)
    meant = [b for b in branches.values() if not any(_is_type_mismatch(e, error) for e in b)]
    if isinstance(error.instance, Mapping) and "type" in error.instance and not meant:
        return []  # no alternative has this "type": say so about the value itself
    return min(meant or branches.values(), key=len, default=[])


def _is_type_mismatch(e: ValidationError, parent: ValidationError) -> bool:
    """An error about the discriminating "type" key of the object the alternatives describe."""
    depth = len(parent.absolute_path)
    path = list(e.absolute_path)
    return path[depth:] == ["type"] and e.validator in ("const", "enum")


def _matches_one(error: ValidationError) -> bool:
    return error.validator == "oneOf" and "is valid under each of" in error.message


def _line(error: ValidationError, strip_ome: bool) -> str:
    path = list(error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, Mapping):
        missing = [k for k in error.validator_value if k not in error.instance]
        if len(missing) == 1:
            return f"{where([*path, missing[0]], strip_ome=strip_ome)}: missing (required)"
        if missing:
            return f"{where(path, strip_ome=strip_ome)}: missing {', '.join(short(k) for k in missing)} (required)"
    return f"{where(path, strip_ome=strip_ome)}: {_what(error)}"


def _what(error: ValidationError) -> str:
    kw, rule, value = error.validator, error.validator_value, error.instance
    if kw == "required":
        return f"must have {', '.join(short(k) for k in rule)} (required)"
    if kw == "type":
        return f"{short(value)} is {_json_type(value)}, but must be {_a(rule)} (no conversion between types)"
    if kw == "uniqueItems":
        name = error.absolute_path[-1] if error.absolute_path and isinstance(error.absolute_path[-1], str) else "items"
        return f"{_duplicate(value)} appears twice ({name} must be unique)"
    if kw == "minItems":
        return "is empty (must not be empty)" if rule == 1 and not value else f"has {len(value)} items (must have at least {rule})"
    if kw == "maxItems":
        return f"has {len(value)} items (must have at most {rule})"
    if kw in ("minContains", "maxContains", "contains"):
        return _contains(error)
    if kw == "enum":
        return f"{short(value)} is not allowed (must be one of {', '.join(short(v) for v in rule)})"
    if kw == "const":
        return f"{short(value)} is not allowed (must be {short(rule)})"
    if kw == "pattern":
        return f"{short(value)} does not have the required form (must match {rule})"
    if kw in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        words = {"minimum": "at least", "exclusiveMinimum": "more than", "maximum": "at most", "exclusiveMaximum": "less than"}
        return f"{short(value)} is out of range (must be {words[kw]} {rule})"
    if kw == "additionalProperties" or kw == "unevaluatedProperties":
        return f"{error.message} (the spec allows no other keys here)"
    if kw in ("anyOf", "oneOf"):
        if _matches_one(error):
            return f"{short(value)} matches more than one allowed form (must match exactly one)"
        if isinstance(value, Mapping) and "type" in value:
            return f"type {short(value['type'])} is not one the spec allows here, or its fields are wrong"
        return f"{short(value)} matches none of the allowed forms"
    if kw == "not":
        return f"{short(value)} is a form the spec forbids here"
    return f"{error.message} (schema rule '{kw}')"


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    names = {str: "a string", list: "an array", dict: "an object", type(None): "null"}
    return next((n for t, n in names.items() if isinstance(value, t)), "a value")


def _a(rule: Any) -> str:
    names = {"string": "a string", "number": "a number", "integer": "an integer", "array": "an array", "object": "an object", "boolean": "a boolean", "null": "null"}
    rules = rule if isinstance(rule, list) else [rule]
    return " or ".join(names.get(r, str(r)) for r in rules)


def _duplicate(items: Any) -> str:
    seen: set[str] = set()
    for item in items if isinstance(items, list) else ():
        key = json.dumps(item, sort_keys=True, default=str)
        if key in seen:
            name = item.get("name") if isinstance(item, Mapping) else None
            return short(name if isinstance(name, str) else item)
        seen.add(key)
    return "an item"


def _contains(error: ValidationError) -> str:
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    low, high = schema.get("minContains", 1), schema.get("maxContains")
    what = _contains_what(schema.get("contains"))
    count = f"{low} to {high}" if high is not None and low != high else (f"exactly {low}" if high == low else f"at least {low}")
    if high is not None and low == 0:
        count = f"at most {high}"
    return f"must have {count} {what} (the spec's rule on how many)"


def _contains_what(sub: Any) -> str:
    """"items of type 'space'" for ``{"properties": {"type": {"enum": ["space"]}}}``."""
    if isinstance(sub, Mapping):
        for key, prop in (sub.get("properties") or {}).items():
            if isinstance(prop, Mapping):
                allowed = prop.get("enum") or ([prop["const"]] if "const" in prop else None)
                if allowed:
                    return f"items with {key} {' or '.join(short(a) for a in allowed)}"
        if "$ref" in sub:
            return f"items of the form {sub['$ref'].rsplit('/', 1)[-1]}"
    return f"items matching {short(sub)}"
