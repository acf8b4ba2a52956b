"""Logging set-up: one format for the service, with URL credentials removed."""

from __future__ import annotations

import logging
import sys

from streams.urls import redact_text, register_secrets


class RedactingFormatter(logging.Formatter):
    """Formatter that hides URL credentials and registered passwords in records."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_text(super().format(record))


def configure_logging(level: str = "INFO", secrets: tuple[str, ...] = ()) -> None:
    handler = logging.StreamHandler(sys.stderr)
    register_secrets(secrets)
    handler.setFormatter(
        RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Per-request access lines are noise next to the pipeline's own log.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # httpx logs every webhook POST at INFO; the forwarder logs what matters.
    logging.getLogger("httpx").setLevel(logging.WARNING)
