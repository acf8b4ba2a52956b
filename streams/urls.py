"""Helpers for stream URLs that may carry credentials."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

# user:password@ in any scheme://; also catches URLs inside longer messages.
_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]*@")


def redact_url(url: str) -> str:
    """Return the URL with any user name and password replaced by `***`."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return _CREDENTIALS.sub(r"\g<scheme>***@", url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def redact_text(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Hide URL credentials and each given secret string inside free text."""
    text = _CREDENTIALS.sub(r"\g<scheme>***@", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def url_secrets(url: str) -> tuple[str, ...]:
    """Return the password (and its percent-decoded form) of a URL, if any."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ()
    if not parts.password:
        return ()
    raw = parts.netloc.rsplit("@", 1)[0].partition(":")[2]
    return tuple({parts.password, raw})
