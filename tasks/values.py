"""Typed task values: the API's JSON form <-> what `Task.data` stores, per field type.

Stored forms are chosen so equality filters and the unique key work in SQL on a plain
string: numbers and currency are normalized decimal strings ("10000.5"), dates
`YYYY-MM-DD`, datetimes UTC ISO 8601 with `Z`, person the member's email (lowercased),
uniqueId the number as text, checkbox a boolean, multipleSelect a list of option
names, file a list of blob descriptions. An empty value is never stored: the key is
removed from `Task.data` instead, so "has a value" is a `has_key` lookup.
"""

import base64
import binascii
import datetime as dt
import re
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import unquote, urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email

from flows.models import Field, Flow, FlowMembership
from flowsite.outbound import OutboundError, check_url_literal, send

T = Field.Type

TEXT_MAX = 10_000
LONG_TEXT_MAX = 100_000
EMAIL_MAX = 254
URL_MAX = 2_000
PHONE_MAX = 30
KEY_MAX = 255  # Task.key's column width
NUMBER_MAX_DIGITS = 30
FILE_MAX_BYTES = 10 * 1024 * 1024
FILES_PER_FIELD_MAX = 20
FILENAME_MAX = 255

# Types that may be a flow's unique key: their stored form is a short, exact string.
UNIQUE_TYPES = {T.TEXT, T.NUMBER, T.PHONE, T.EMAIL, T.URL, T.UNIQUE_ID}
SELECT_TYPES = {T.SINGLE_SELECT, T.MULTIPLE_SELECT}

_PHONE_RE = re.compile(r"^\+?[0-9 ()\-.]+$")
_NUMBER_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CONTENT_TYPE_RE = re.compile(r"^[\w.+-]+/[\w.+-]+$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_url_validator = URLValidator(schemes=["http", "https"])


class TaskValidationError(Exception):
    """Invalid task data; `errors` maps a field name (or "body") to reasons. The Task API answers 422."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__(str(errors))


def blob_name(blob_id: str) -> str:
    """The blob's name in Django's default file storage."""
    # Blob ids are uuid4 strings; anything else never reaches the storage.
    return f"blobs/{uuid.UUID(blob_id)}"


def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def empty_json(field: Field) -> Any:
    if field.type == T.CHECKBOX:
        return False
    if field.type in (T.MULTIPLE_SELECT, T.FILE):
        return []
    return None


def field_to_json(field: Field, raw: Any) -> Any:
    """Stored value -> the Task API's JSON form."""
    if raw is None:
        return empty_json(field)
    if field.type == T.CHECKBOX:
        return bool(raw)
    if field.type == T.FILE:
        if not isinstance(raw, list):
            return []
        return [
            {"blobId": item.get("blobId"), "contentType": item.get("contentType"), "filename": item.get("filename")}
            for item in raw
            if isinstance(item, dict)
        ]
    if field.type == T.MULTIPLE_SELECT:
        return list(raw) if isinstance(raw, list) else [raw]
    if field.type == T.UNIQUE_ID:
        return str(raw)
    return raw


def decimal_text(value: Any) -> str:
    """A JSON number or numeric string -> normalized decimal text without exponent ("1E+4" -> "10000")."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError("must be a number")
    if isinstance(value, float):
        value = repr(value)
    text = str(value).strip()
    if not _NUMBER_RE.match(text):
        raise ValueError("must be a number")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError("must be a number")
    if number.is_finite() and number == 0:
        return "0"
    # Checked before formatting: "1e999999999" would otherwise expand to a billion digits.
    if not number.is_finite() or abs(number.adjusted()) > NUMBER_MAX_DIGITS:
        raise ValueError(f"must have at most {NUMBER_MAX_DIGITS} digits")
    number = number.normalize()
    text = format(number, "f")
    if len(text.replace("-", "").replace(".", "")) > NUMBER_MAX_DIGITS:
        raise ValueError(f"must have at most {NUMBER_MAX_DIGITS} digits")
    return text


def _string(value: Any, max_length: int) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    if len(value) > max_length:
        raise ValueError(f"must be at most {max_length:,} characters")
    return value


def _date(value: Any) -> str:
    if not isinstance(value, str) or not _DATE_RE.match(value.strip()):
        raise ValueError("must be a date as YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        raise ValueError("must be a date as YYYY-MM-DD")


def _datetime(value: Any) -> str:
    if not isinstance(value, str) or "T" not in value.upper():
        raise ValueError("must be an ISO 8601 date and time, e.g. 2020-01-31T10:00:00Z")
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError("must be an ISO 8601 date and time, e.g. 2020-01-31T10:00:00Z")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _email(value: Any) -> str:
    value = _string(value, EMAIL_MAX).strip()
    try:
        validate_email(value)
    except ValidationError:
        raise ValueError("must be a valid email address")
    return value.lower()


def _option(field: Field, value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be one of the options")
    for option in field.options or []:
        if option.lower() == value.strip().lower():
            return option
    raise ValueError(f"must be one of: {', '.join(field.options or [])}")


def flow_member_emails(flow: Flow) -> dict[str, int]:
    """Emails (lowercased) of the flow's active members -> user id, for person values and assignees."""
    rows = FlowMembership.objects.filter(flow=flow, disabled=False, user__is_active=True).values_list(
        "user__email", "user_id"
    )
    return {email.lower(): user_id for email, user_id in rows}


def _clean_filename(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("each file needs a filename")
    value = value.strip()
    if len(value) > FILENAME_MAX or "/" in value or "\\" in value or _CONTROL_RE.search(value):
        raise ValueError("filename must be a plain file name of at most 255 characters")
    return value


def _clean_content_type(value: Any, default: str = "application/octet-stream") -> str:
    if value in (None, ""):
        return default
    if not isinstance(value, str) or len(value) > 100 or not _CONTENT_TYPE_RE.match(value.split(";")[0].strip()):
        raise ValueError("contentType must be a MIME type such as application/pdf")
    return value.split(";")[0].strip().lower()


def _remote_url(url: Any) -> str:
    if not isinstance(url, str) or len(url) > URL_MAX:
        raise ValueError("remoteUrl must be an http(s) URL")
    try:
        _url_validator(url)
    except ValidationError:
        raise ValueError("remoteUrl must be an http(s) URL")
    return url


def _check_remote(url: Any) -> None:
    """What fetching `url` would refuse before sending anything: not an http(s) URL, or a literal
    address the outbound policy refuses (a host name is resolved only when the file is fetched)."""
    _remote_url(url)
    try:
        check_url_literal(url)
    except OutboundError as exc:
        raise ValueError(f"could not fetch remoteUrl: {exc}")


def _fetch_remote(url: Any) -> tuple[bytes, str]:
    url = _remote_url(url)
    try:
        response = send("GET", url, headers={}, body=None)
    except OutboundError as exc:
        raise ValueError(f"could not fetch remoteUrl: {exc}")
    if not 200 <= response.status_code < 300:
        raise ValueError(f"could not fetch remoteUrl: it answered {response.status_code}")
    if response.truncated:
        raise ValueError("could not fetch remoteUrl: the file is larger than the download limit")
    headers = {str(k).lower(): v for k, v in (response.headers or {}).items()}
    return response.body, str(headers.get("content-type", "") or "")


# remoteUrl -> (contents, content type) or the reason it could not be fetched.
Fetched = dict[str, tuple[bytes, str] | ValueError]


def remote_files_fetch(*, fields: list[Field], data: Any, fetch: bool = True) -> Fetched:
    """Fetch every remoteUrl that `data` (task JSON) gives a file field, once per URL.

    Writers call this before they lock the task: a fetch may take up to the outbound timeout, and
    other writes to the task must not wait for it. Failures are kept and reported by validation.
    With `fetch=False` each URL is only checked, and stands in as an empty file: for checking a value
    that is saved now and written later (a step's configured value), without sending anything."""
    fetched: Fetched = {}
    if not isinstance(data, dict):
        return fetched
    file_fields = {field.name.lower() for field in fields if field.type == T.FILE}
    for name, value in data.items():
        if str(name).strip().lower() not in file_fields:
            continue
        items = value if isinstance(value, list) else [value]
        if len(items) > FILES_PER_FIELD_MAX:
            continue  # refused by validation without fetching anything
        for item in items:
            if not isinstance(item, dict) or "base64contents" in item or "remoteUrl" not in item:
                continue
            url = item["remoteUrl"]
            if isinstance(url, str) and url not in fetched:
                try:
                    if fetch:
                        fetched[url] = _fetch_remote(url)
                    else:
                        _check_remote(url)
                        fetched[url] = (b"", "")
                except ValueError as exc:
                    fetched[url] = exc
    return fetched


def _remote_contents(url: Any, fetched: Fetched | None) -> tuple[bytes, str]:
    found = fetched.get(url) if fetched is not None and isinstance(url, str) else None
    if found is None:
        return _fetch_remote(url)
    if isinstance(found, ValueError):
        raise ValueError(str(found))
    return found


def _file_entry(item: Any, fetched: Fetched | None = None) -> dict:
    """One entry of a file value. New contents are kept under "_pending" until the task is saved."""
    if not isinstance(item, dict):
        raise ValueError("must be a list of files")
    if "base64contents" in item:
        raw = item["base64contents"]
        if not isinstance(raw, str):
            raise ValueError("base64contents must be a base64 string")
        if len(raw) > FILE_MAX_BYTES * 4 // 3 + 8:
            raise ValueError("each file must be at most 10 MiB")
        try:
            content = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("base64contents is not valid base64")
        filename = _clean_filename(item.get("filename"))
        content_type = _clean_content_type(item.get("contentType"))
    elif "remoteUrl" in item:
        content, remote_type = _remote_contents(item["remoteUrl"], fetched)
        name = item.get("filename") or unquote(urlsplit(item["remoteUrl"]).path.rsplit("/", 1)[-1]) or "download"
        filename = _clean_filename(name)
        content_type = _clean_content_type(item.get("contentType") or remote_type or None)
    elif "blobId" in item:
        blob_id = item["blobId"]
        try:
            blob_id = str(uuid.UUID(str(blob_id)))
        except ValueError:
            raise ValueError("unknown blobId")
        return {"blobId": blob_id}  # completed from the task's current value by the service
    else:
        raise ValueError("each file needs base64contents, remoteUrl or blobId")
    if len(content) > FILE_MAX_BYTES:
        raise ValueError("each file must be at most 10 MiB")
    return {
        "blobId": str(uuid.uuid4()),
        "contentType": content_type,
        "filename": filename,
        "size": len(content),
        "_pending": content,
    }


def field_from_json(
    field: Field, value: Any, *, flow: Flow, members: dict[str, int] | None = None, fetched: Fetched | None = None
) -> Any:
    """API JSON value -> stored value; raises ValueError(reason). None means "clear the value".

    `members` (email -> user id, see flow_member_emails) saves a query per person value when
    many values are checked at once. `fetched` (see remote_files_fetch) holds the files of
    remoteUrl entries fetched beforehand; a URL missing from it is fetched now.
    """
    if is_empty(value) and not (field.type == T.CHECKBOX and value is False):
        return None
    kind = field.type
    if kind == T.TEXT:
        return _string(value, TEXT_MAX)
    if kind == T.LONG_TEXT:
        return _string(value, LONG_TEXT_MAX)
    if kind in (T.NUMBER, T.CURRENCY):
        return decimal_text(value)
    if kind == T.PHONE:
        value = _string(value, PHONE_MAX).strip()
        digits = sum(c.isdigit() for c in value)
        if not _PHONE_RE.match(value) or digits < 3:
            raise ValueError("must be a phone number: digits, +, spaces, dashes and parentheses")
        return value
    if kind == T.DATE:
        return _date(value)
    if kind == T.DATETIME:
        return _datetime(value)
    if kind == T.PERSON:
        email = _email(value)
        if members is None:
            members = flow_member_emails(flow)
        if email not in members:
            raise ValueError("must be the email of a member of this flow")
        return email
    if kind == T.SINGLE_SELECT:
        return _option(field, value)
    if kind == T.MULTIPLE_SELECT:
        if not isinstance(value, list):
            raise ValueError("must be a list of options")
        chosen: list[str] = []
        for item in value:
            option = _option(field, item)
            if option not in chosen:
                chosen.append(option)
        return chosen
    if kind == T.CHECKBOX:
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value
    if kind == T.UNIQUE_ID:
        # Assigned by the server; the service decides whether a sent value identifies the task.
        try:
            number = int(str(value).strip()) if not isinstance(value, bool) else None
        except ValueError:
            number = None
        if number is None or number < 1:
            raise ValueError("must be a positive whole number")
        return str(number)
    if kind == T.FILE:
        items = value if isinstance(value, list) else [value]
        if len(items) > FILES_PER_FIELD_MAX:
            raise ValueError(f"at most {FILES_PER_FIELD_MAX} files")
        return [_file_entry(item, fetched) for item in items]
    if kind == T.EMAIL:
        return _email(value)
    if kind == T.URL:
        value = _string(value, URL_MAX).strip()
        try:
            _url_validator(value)
        except ValidationError:
            raise ValueError("must be an http(s) URL")
        return value
    raise ValueError("has an unknown type")


def key_text(field: Field, stored: Any) -> str:
    """The text kept in Task.key for the unique key's stored value."""
    if stored is None:
        return ""
    return str(stored)


def _coerce_for(new_type: str, value: Any) -> Any:
    """Bend an old JSON value towards the new type before validating it (what converts, converts)."""
    if value is None:
        return None
    if new_type in (T.TEXT, T.LONG_TEXT, T.PHONE, T.EMAIL, T.URL, T.PERSON, T.SINGLE_SELECT):
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            # Options become text as a comma-separated list; a single choice becomes that choice.
            if new_type in (T.TEXT, T.LONG_TEXT):
                return ", ".join(value)
            return value[0] if len(value) == 1 else value
        if isinstance(value, list):
            return value
        if isinstance(value, str) and new_type in (T.PHONE, T.EMAIL, T.URL, T.PERSON, T.SINGLE_SELECT):
            return value.strip()
        return value
    if new_type == T.MULTIPLE_SELECT and isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if new_type == T.CHECKBOX and isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "yes", "1"):
            return True
        if lowered in ("false", "no", "0"):
            return False
    if new_type == T.DATE and isinstance(value, str) and "T" in value:
        return value.split("T", 1)[0]
    if new_type == T.DATETIME and isinstance(value, str) and _DATE_RE.match(value):
        return value + "T00:00:00Z"
    if new_type in (T.NUMBER, T.CURRENCY) and isinstance(value, str):
        return value.strip()
    return value


def field_convert(old: Field, new: Field, raw: Any, *, flow: Flow, members: dict[str, int] | None = None) -> Any:
    """A stored value under `old`'s definition -> stored under `new`'s; ValueError if it does not convert."""
    if raw is None:
        return None
    if old.type == T.FILE or new.type == T.FILE:
        if old.type == new.type:
            return raw
        raise ValueError("files do not convert to other types")
    value = _coerce_for(new.type, field_to_json(old, raw))
    if old.type == T.CHECKBOX and new.type == T.CHECKBOX:
        return raw
    return field_from_json(new, value, flow=flow, members=members)


def filter_value(field: Field, text: str) -> Any:
    """A query-string filter value -> the stored form it must equal; ValueError if it cannot match anything
    valid. Used by the task list's field filters."""
    text = text.strip()
    kind = field.type
    if kind in (T.NUMBER, T.CURRENCY):
        return decimal_text(text)
    if kind == T.DATE:
        return _date(text)
    if kind == T.DATETIME:
        return _datetime(text)
    if kind == T.CHECKBOX:
        lowered = text.lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        raise ValueError("must be true or false")
    if kind in (T.EMAIL, T.PERSON):
        return text.lower()
    if kind in SELECT_TYPES:
        for option in field.options or []:
            if option.lower() == text.lower():
                return option
        return text
    if kind == T.UNIQUE_ID:
        try:
            return str(int(text))
        except ValueError:
            raise ValueError("must be a whole number")
    if kind == T.FILE:
        raise ValueError("file fields can only be filtered as empty")
    return text
