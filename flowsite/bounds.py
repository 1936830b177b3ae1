"""Integer bounds, declared where a value comes in: query parameters, ids in paths and bodies, positions.

Python's integers have no limit and the database's do: a 20-digit `?page=` or `{"id": 10**30}` used to
reach SQL and fail there (OverflowError on SQLite, "out of range" on PostgreSQL) as a 500. Every
integer from outside is read through here, so it is refused as bad input instead.
"""

from typing import Any

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
# The widest id any table holds (BigAutoField), and the widest SQL parameter.
ID_MAX = INT64_MAX
# Positions and sort orders are stored in IntegerField (32-bit on PostgreSQL).
INT32_MAX = 2**31 - 1
# `page` is multiplied by a page size (at most this) into an SQL OFFSET, which must fit in 64 bits.
PAGE_SIZE_MAX = 1000
PAGE_MAX = INT64_MAX // PAGE_SIZE_MAX


def bounded_int(value: Any, *, minimum: int = INT64_MIN, maximum: int = INT64_MAX) -> int:
    """`value` (an int, or a string of digits) as an int from minimum to maximum, or ValueError.

    Booleans, floats and anything else are refused: JSON's `true` is not 1, and 1.5 is not a position.
    """
    if isinstance(value, bool):
        raise ValueError("not a whole number")
    if isinstance(value, str):
        text = value.strip()
        # int() would also take "1_000" and " ١٢ "; an id or a page is plain ASCII digits, and long
        # digit strings are refused before int() spends time converting them.
        digits = text[1:] if text[:1] in "+-" else text
        if not digits.isascii() or not digits.isdigit() or len(digits) > 20:
            raise ValueError("not a whole number")
        value = int(text)
    if not isinstance(value, int):
        raise ValueError("not a whole number")
    if not minimum <= value <= maximum:
        raise ValueError(f"must be from {minimum} to {maximum}")
    return value


def id_or_none(value: Any) -> int | None:
    """A database id from a path, a query or a body, or None when it cannot be one (so: not found)."""
    try:
        return bounded_int(value, minimum=1, maximum=ID_MAX)
    except ValueError:
        return None


class IdConverter:
    """`<id:name>` in a URL: digits that fit in a database id; anything longer is no match (404)."""

    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > ID_MAX:
            raise ValueError("beyond the largest id")
        return number

    def to_url(self, value: Any) -> str:
        return str(value)
