"""API authentication: a personal token sent the ways Flowdash and Flowdock clients send it."""

import base64
import binascii
from collections.abc import Callable

from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token


def token_read(key: str) -> Token | None:
    """The token and its user, read from the database (None: no such token)."""
    try:
        return Token.objects.select_related("user").get(key=key)
    except (Token.DoesNotExist, ValueError):
        return None


# How a token is found: flows replaces this with a lookup cached per process under its access
# version (FlowsConfig.ready(); flowsite, the lowest layer, must not import flows).
_token_lookup: list[Callable[[str], Token | None]] = [token_read]


def token_lookup_register(lookup: Callable[[str], Token | None]) -> None:
    _token_lookup[0] = lookup


def user_for_token(key: str):
    token = _token_lookup[0](key)
    if token is None:
        raise exceptions.AuthenticationFailed("Invalid token.")
    if not token.user.is_active or token.user.disabled:
        raise exceptions.AuthenticationFailed("User inactive or disabled.")
    return token.user, token


class TokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Token <t>` (DRF) or `Authorization: Bearer <t>` (Flowdash)."""

    keywords = ("token", "bearer")

    def authenticate(self, request):
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].decode("latin-1").lower() not in self.keywords:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Invalid token header.")
        try:
            key = parts[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed("Invalid token header.")
        return user_for_token(key)

    def authenticate_header(self, request) -> str:
        return "Bearer"


class TokenBasicAuthentication(authentication.BaseAuthentication):
    """HTTP Basic with the token as the user name and any password (Flowdock clients)."""

    def authenticate(self, request):
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].lower() != b"basic":
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Invalid basic header.")
        try:
            decoded = base64.b64decode(parts[1], validate=True).decode()
        except (binascii.Error, UnicodeError):
            raise exceptions.AuthenticationFailed("Invalid basic header.")
        username = decoded.partition(":")[0]
        return user_for_token(username)

    def authenticate_header(self, request) -> str:
        return 'Basic realm="api"'
