"""Helpers for stream URLs that may carry credentials."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

# user:password@ after any scheme://, also inside longer messages. The user info
# may hold "/", "#" or "?" when a password was not percent-encoded, so it runs to
# the last "@" before whitespace or a quote.
_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^\s'\"]*@")


def redact_url(url: str) -> str:
    """Return the URL with any user name and password replaced by `***`.

    Never raises: a URL too broken to parse is still searched for an "@".
    """
    return _CREDENTIALS.sub(r"\g<scheme>***@", url)


_registered: set[str] = set()


def register_secrets(secrets: tuple[str, ...]) -> None:
    """Add passwords that every later redact_text call hides, wherever they are."""
    _registered.update(secret for secret in secrets if secret)


def redact_text(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Hide URL credentials, registered secrets and the given ones inside text."""
    text = _CREDENTIALS.sub(r"\g<scheme>***@", text)
    for secret in sorted(_registered.union(secrets), key=len, reverse=True):
        if secret:
            text = text.replace(secret, "***")
    return text


def url_secrets(url: str) -> tuple[str, ...]:
    """Return the user info of a URL (raw and percent-decoded), if it has one."""
    if "://" not in url or "@" not in url:
        return ()
    userinfo = url.split("://", 1)[1].rsplit("@", 1)[0]
    password = userinfo.partition(":")[2]
    found = {password, unquote(password)} if password else set()
    return tuple(secret for secret in found if len(secret) >= 3)


def url_port_error(url: str) -> str | None:
    """Return why the URL's port is invalid, or None when it is fine or absent."""
    if "://" not in url:
        return None
    host_part = url.split("://", 1)[1].rsplit("@", 1)[-1].split("/", 1)[0]
    try:
        _ = urlsplit("x://" + host_part).port
    except ValueError as error:
        return str(error)
    return None
