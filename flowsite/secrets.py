"""Encryption at rest for secrets people type in: step configs (authorization headers, tokens), and
credential columns (EncryptedCharField: flow signing secrets, organizations' Twilio auth tokens).

The key derives from SECRET_KEY: rotating SECRET_KEY makes stored secrets unreadable, and the
steps that use them fail with a clear message until someone re-enters them.
"""

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.db import models

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


# Shown in forms in place of a stored secret; sending it back keeps the stored value.
MASK = "********"


class EncryptedCharField(models.CharField):
    """A credential column: encrypted in the database, clear in Python.

    `max_length` bounds the column, which holds the encrypted form (about 2.2x the clear value plus
    ~100 characters); forms bound the clear value themselves. A value that cannot be decrypted
    (SECRET_KEY changed) is read as stored, still encrypted, so loading the row works and the code
    that uses the secret gets SecretUnreadable from decrypt() with a message saying what to do.
    """

    def from_db_value(self, value, expression, connection):
        if not value:
            return value
        try:
            return decrypt(value)
        except SecretUnreadable:
            return value

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return encrypt(value) if value else value
