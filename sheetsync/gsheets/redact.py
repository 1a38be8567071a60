"""Keep access tokens and service-account keys out of every text we write.

Messages built from Google's answers, exception texts and log lines end up in run records and
log files on a shared drive that many people read.  A key or token there is a credential handed
to all of them, so every such text passes through :class:`Redactor` first: it knows the exact
secrets of this run (the current access token, the key from the service-account file) and also
blanks anything shaped like a credential, in case a proxy or a library echoes one we did not
know about.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

HIDDEN = "[已隐去]"
# shorter strings are not secrets we hold, and blanking them would garble ordinary text
MIN_SECRET_LENGTH = 8

_PEM = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", re.DOTALL)
_BEARER = re.compile(r"(?i)\b(Bearer)\s+[A-Za-z0-9._~+/=-]+")
_GOOGLE_TOKEN = re.compile(r"\bya29\.[A-Za-z0-9._-]+")
_NAMED = re.compile(
    r"(?i)(\"?\b(?:access_token|refresh_token|id_token|client_secret|private_key_id|private_key|assertion)"
    r"\"?\s*[:=]\s*\"?)([^\"&\s,}]+)"
)


class Redactor:
    """Replaces known secrets and credential-shaped text with :data:`HIDDEN`.

    ``secrets`` is asked afresh on every call because the access token changes when the
    credentials refresh during a run.
    """

    def __init__(self, secrets: Callable[[], Iterable[str | None]] = tuple) -> None:
        self._secrets = secrets

    def __call__(self, text: str) -> str:
        for secret in sorted((s for s in self._secrets() if s), key=len, reverse=True):
            if len(secret) >= MIN_SECRET_LENGTH:
                text = text.replace(secret, HIDDEN)
        return redact_patterns(text)


def redact_patterns(text: str) -> str:
    """Blank whatever looks like a private key, a bearer token or a named credential."""
    text = _PEM.sub(HIDDEN, text)
    text = _BEARER.sub(lambda found: f"{found[1]} {HIDDEN}", text)
    text = _GOOGLE_TOKEN.sub(HIDDEN, text)
    return _NAMED.sub(lambda found: f"{found[1]}{HIDDEN}", text)
