"""Forgiving field-name matching, shared by workflow filters and `{{trigger.x}}` interpolation.

People write field names as labels ("Company Name", "International?") while API clients and templates
use identifiers ("company_name", "companyName"). Both sides meet on a normalized form: lowercase with
everything but letters and digits removed.
"""

from collections.abc import Iterable


def normalize_name(name: str) -> str:
    """ "Company Name", "company_name", "companyName", "COMPANY-NAME" -> "companyname"."""
    # str.isalnum keeps non-ASCII letters, so "Größe" or "Código" still match their snake_case forms.
    return "".join(char for char in name.lower() if char.isalnum())


def match_name(wanted: str, names: Iterable[str]) -> str | None:
    """The exact name if present, else the one name that normalizes like `wanted`.

    None when nothing matches, when `wanted` normalizes to "" (e.g. "??" must not match "!!"), or when
    several names normalize alike ("Stage" and "stage") - guessing there could silently pick the wrong one.
    """
    candidates = list(names)
    if wanted in candidates:
        return wanted
    key = normalize_name(wanted)
    if not key:
        return None
    found = {name for name in candidates if normalize_name(name) == key}
    return found.pop() if len(found) == 1 else None
