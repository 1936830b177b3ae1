"""Encryption at rest for secrets people type into step configs (authorization headers, tokens).

The key derives from SECRET_KEY: rotating SECRET_KEY makes stored secrets unreadable, and the
steps that use them fail with a clear message until someone re-enters them.
"""

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings

PREFIX = "enc:v1:"


class SecretUnreadable(Exception):
    pass


@lru_cache(maxsize=4)
def _fernet(secret_key: str) -> Fernet:
    digest = hashlib.sha256(f"flowsite-secrets:{secret_key}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def is_encrypted(value: str) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def encrypt(value: str) -> str:
    if is_encrypted(value):
        return value
    return PREFIX + _fernet(settings.SECRET_KEY).encrypt(value.encode()).decode()


def decrypt(value: str) -> str:
    if not is_encrypted(value):
        return value
    try:
        return _fernet(settings.SECRET_KEY).decrypt(value[len(PREFIX) :].encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("a stored secret could not be decrypted (was SECRET_KEY changed?); enter it again")
