"""Channel URLs at rest: Fernet, with a key derived from SECRET_KEY.

A channel's URL holds its secret (a bot token, a password, the webhook's
signing secret), so the database keeps only a Fernet token of it. The key is
an HMAC-SHA256 of a fixed label under ``SECRET_KEY``; keys of
``SECRET_KEY_FALLBACKS`` still decrypt, so rotating the secret key keeps the
channels working until they are saved again. Losing the secret key loses the
channels' URLs (they must be entered again), nothing else.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.utils.crypto import salted_hmac

_LABEL = "bangui.notifications.channel-url"


class Undecryptable(Exception):
    """The stored URL was encrypted under a secret key this process lacks."""


def _fernet(secret: str) -> Fernet:
    digest = salted_hmac(_LABEL, "key", secret=secret, algorithm="sha256").digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _box() -> MultiFernet:
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return MultiFernet([_fernet(s) for s in secrets])


def encrypt(text: str) -> str:
    return _box().encrypt(text.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _box().decrypt(token.encode()).decode()
    except InvalidToken:
        raise Undecryptable("the channel's URL was saved under another secret key; "
                            "enter it again") from None
