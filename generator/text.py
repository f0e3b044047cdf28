"""Valid text from untrusted documents: one JSON parser for every harvested document.

A data host may serve JSON that parses but holds what the rest of the build
cannot carry: a lone UTF-16 surrogate (``"\\ud800"``) cannot be encoded as
UTF-8 when a page is written, NUL and other control characters break CSV,
HTML and terminal output, and a document nested a thousand levels deep
parses but overflows the recursion of every later ``json.dumps``. So every
remote JSON document is parsed by ``parse_json_document``, which bounds the
depth and cleans every string (keys included) where it enters the build.
"""

from __future__ import annotations

import json
import re
from typing import Any

# Real OME-Zarr documents nest about 12 levels (consolidated metadata
# included); 64 is plenty, and far below Python's recursion limit.
MAX_JSON_DEPTH = 64

# C0 controls except tab and newline (carriage returns become newlines first),
# DEL, C1 controls, and UTF-16 surrogates (json.loads lets lone ones through,
# from "\ud800" escapes or from UTF-8 bytes it decodes with "surrogatepass").
_BAD = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CSV_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_SPACE = re.compile(r"[\t\n]+")
# What a string that needs cleaning looks like in JSON written with
# ensure_ascii (the build state): an escape of a control character or a
# surrogate. Valid pairs match too; they pass the cleaning unchanged.
_ESCAPED_BAD = re.compile(r"\\(?:[bfr]|u00[01][0-9a-fA-F]|u00[7-9][0-9a-fA-F]|u[dD][89a-fA-F][0-9a-fA-F]{2})")


class DocumentError(ValueError):
    """A document that is not usable JSON; the message names the document."""


class DocumentTooDeep(DocumentError):
    """Valid JSON nested past the depth cap: a hostile document, not a garbled answer."""


def clean_text(text: str, *, multiline: bool = True) -> str:
    """``text`` as valid text: surrogates become U+FFFD, control characters go.

    Tabs and newlines are kept when ``multiline`` (descriptions), else they
    become single spaces (names, labels, units).
    """
    if _BAD.search(text) is not None:
        text = _SURROGATE.sub("\ufffd", text.replace("\r\n", "\n").replace("\r", "\n"))
        text = _CONTROL.sub("", text)
    if not multiline and ("\t" in text or "\n" in text):
        text = _SPACE.sub(" ", text)
    return text


def strip_controls(text: str) -> str:
    """``text`` without control characters other than tab, CR and LF (a CSV's line ends stay as written)."""
    return _CSV_CONTROL.sub("", text) if _BAD.search(text) is not None else text


class _TooDeep(Exception):
    pass


def _clean(value: Any, depth: int, max_depth: int) -> Any:
    """``value`` cleaned in place (it was just parsed: nothing else holds it), so no copy doubles a large document."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        if depth >= max_depth:
            raise _TooDeep
        bad_key = False
        for k, v in value.items():
            if isinstance(v, (str, dict, list)):
                cleaned = _clean(v, depth + 1, max_depth)
                if cleaned is not v:
                    value[k] = cleaned  # same key: allowed while iterating
            bad_key = bad_key or _BAD.search(k) is not None
        return {clean_text(k): v for k, v in value.items()} if bad_key else value
    if isinstance(value, list):
        if depth >= max_depth:
            raise _TooDeep
        for i, v in enumerate(value):
            if isinstance(v, (str, dict, list)):
                cleaned = _clean(v, depth + 1, max_depth)
                if cleaned is not v:
                    value[i] = cleaned
    return value


def clean_tree(value: Any, name: str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """A freshly parsed JSON value with every string cleaned (in place); DocumentError past ``max_depth`` levels."""
    try:
        return _clean(value, 0, max_depth)
    except _TooDeep:
        raise DocumentTooDeep(f"{name}: JSON nested deeper than {max_depth} levels") from None


def parse_json_document(body: bytes | str, name: str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """JSON from a remote document, with valid text and bounded depth, or DocumentError naming ``name``."""
    try:
        value = json.loads(body)
    except json.JSONDecodeError as e:
        raise DocumentError(f"{name}: invalid JSON at line {e.lineno} column {e.colno} ({e.msg})") from None
    except UnicodeDecodeError:
        raise DocumentError(f"{name}: invalid JSON (not UTF-8 text)") from None
    except RecursionError:
        raise DocumentTooDeep(f"{name}: JSON nested deeper than {max_depth} levels") from None
    except ValueError as e:  # e.g. an integer literal longer than Python's 4,300-digit limit
        raise DocumentError(f"{name}: invalid JSON ({e})") from None
    return clean_tree(value, name, max_depth=max_depth)


def parse_stored_json(text: str, name: str, *, max_depth: int = 2 * MAX_JSON_DEPTH) -> Any:
    """JSON the build wrote itself (the state), cleaned only when it could hold bad text.

    Records stored by an older build may carry strings harvested before they
    were cleaned; ``json.dumps`` escapes those, so a cheap search finds them.
    """
    value = json.loads(text)
    if _ESCAPED_BAD.search(text) is None:
        return value
    return clean_tree(value, name, max_depth=max_depth)
