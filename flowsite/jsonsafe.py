"""The one JSON parser for everything that comes in from outside: API bodies, HTMX forms that carry
JSON, and the answers the engine reads back from API Calls.

`json.loads` alone lets three kinds of hostile input through to code that cannot cope with them:
- nesting deep enough to exhaust the interpreter's stack (RecursionError, a 500), here or in any
  recursive walk of the data later (serializers, error flatteners, interpolation);
- lone UTF-16 surrogates (`"\\ud800"`), which PostgreSQL refuses to store and which no page or
  API answer can encode as UTF-8 once stored in SQLite;
- integers beyond 64 bits, which overflow every database integer column and every SQL parameter;
  those are refused where the value is declared (`flowsite.bounds`), not here, because a task's
  number field takes arbitrary digits as text.
`NaN` and `Infinity` are not JSON at all, and PostgreSQL's jsonb refuses them. So does PostgreSQL
refuse the NUL character (`"\u0000"`) in text and jsonb: it is refused here too, on every database.
"""

import itertools
import json
import re
from typing import Any

from django.conf import settings
from rest_framework import parsers, renderers
from rest_framework.exceptions import ParseError

# Deeper than any document Flowsite defines (a workflow's branch of conditions is a handful of levels).
MAX_DEPTH = 64

_STRING_RE = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET_RE = re.compile(r"[\[\]{}]")
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
# In json.dumps' output a NUL is written \u0000 and a backslash \\: so a NUL is \u0000 after an even
# number of backslashes (with or without ensure_ascii: json escapes control characters either way).
_NUL_RE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
_REPLACEMENT = "\ufffd"


class UnsafeJSON(ValueError):
    """The text is JSON Flowsite refuses (too deep, lone surrogates, NaN); the message says why."""


class UnsafeJSONError(ParseError):
    """The API's answer to UnsafeJSON: a parse error whose `reason` an API may show in its own shape."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(f"JSON parse error - {reason}")


def _refuse_constant(name: str):
    raise UnsafeJSON(f"{name} is not a JSON value.")


def depth(text: str) -> int:
    """How deeply the text's arrays and objects nest, found without parsing (so without recursing)."""
    levels = (1 if bracket in "[{" else -1 for bracket in _BRACKET_RE.findall(_STRING_RE.sub("", text)))
    return max(itertools.accumulate(levels, initial=0))


def _text_problem(value: Any) -> str:
    """Why a string in the (depth-checked) value, keys included, cannot be kept, or "".

    One pass of the C encoder: a lone surrogate cannot be encoded as UTF-8 (paired ones were already
    joined by the parser), and a NUL is written \\u0000 (json escapes control characters either way)."""
    dumped = json.dumps(value, ensure_ascii=False)
    try:
        dumped.encode("utf-8")
    except UnicodeEncodeError:
        return "JSON strings must not contain lone surrogates (\\ud800-\\udfff)."
    if _NUL_RE.search(dumped):
        return "JSON strings must not contain the NUL character (\\u0000)."
    return ""


def loads(text: str | bytes | bytearray, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse untrusted JSON, or raise ValueError: UnsafeJSON for hostile JSON, JSONDecodeError for bad."""
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            raise UnsafeJSON("The body must be UTF-8.")
    # No deeper than it has opening brackets: most bodies need no walk of their nesting.
    if text.count("[") + text.count("{") > max_depth and depth(text) > max_depth:
        raise UnsafeJSON(f"JSON nested more than {max_depth} levels deep.")
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:  # not reachable past the depth check; kept so no caller ever sees one
        raise UnsafeJSON(f"JSON nested more than {max_depth} levels deep.")
    # A lone surrogate or a NUL in the value came from a \u escape or from the text itself (the parser
    # refuses a raw NUL in a string): text with neither has nothing to look for.
    if "\\" in text or _SURROGATE_RE.search(text):
        problem = _text_problem(value)
        if problem:
            raise UnsafeJSON(problem)
    return value


def clean_text(value: Any) -> Any:
    """A string with any lone surrogate replaced by U+FFFD; anything else unchanged.

    For text stored before the parser refused surrogates (SQLite keeps them), so it can still be shown.
    """
    if isinstance(value, str) and _SURROGATE_RE.search(value):
        return _SURROGATE_RE.sub(_REPLACEMENT, value)
    return value


def clean(value: Any) -> Any:
    """`clean_text` through lists and dicts (keys too)."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser through `loads`: every API body gets the same limits."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            raw = stream.read() if stream is not None else b""
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            raise ParseError("JSON parse error - the body is not valid " + encoding)
        try:
            return loads(text)
        except UnsafeJSON as exc:
            raise UnsafeJSONError(str(exc))
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}")


class JSONRenderer(renderers.JSONRenderer):
    """DRF's JSON renderer, with lone surrogates stored before they were refused shown as U+FFFD.

    The answer is UTF-8 (`UNICODE_JSON`), which cannot carry a lone surrogate: without this, one such
    value turned every list it appears in into a 500.
    """

    def render(self, data, accepted_media_type=None, renderer_context=None):
        try:
            return super().render(data, accepted_media_type, renderer_context)
        except UnicodeEncodeError:
            return super().render(clean(data), accepted_media_type, renderer_context)
