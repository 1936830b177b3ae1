"""The one error every outbound failure is: what went wrong, in words safe to show, and whether trying
again later may help."""

from __future__ import annotations

# Failures of the exchange itself: the receiver may be back in a moment. A refused address, a bad URL
# or an unknown host will not get better by waiting.
RETRYABLE_KINDS = frozenset({"timeout", "connect", "connection"})


class OutboundError(Exception):
    """A request that could not be made or completed.

    ``kind`` is one of "invalid_url", "invalid_request", "invalid_header", "refused", "dns", "connect",
    "timeout" or "connection". ``message`` is short, human and safe to show to the flow's author (the
    secrets given to ``send`` are redacted from it). ``retryable`` says whether the same request may
    succeed later.
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE_KINDS

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"OutboundError(kind={self.kind!r}, message={self.message!r})"


def seconds(value: float) -> str:
    """A duration as error messages show it."""
    return f"{value:g}"
