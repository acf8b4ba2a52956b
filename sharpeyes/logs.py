"""Logging set-up: one format for the service, with URL credentials removed."""

from __future__ import annotations

import logging
import sys

from streams.urls import redact_text


class RedactingFormatter(logging.Formatter):
    """Formatter that hides user:password@ in any URL of a formatted record."""

    def __init__(self, fmt: str, secrets: tuple[str, ...] = ()) -> None:
        super().__init__(fmt)
        self.secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        return redact_text(super().format(record), self.secrets)


def configure_logging(level: str = "INFO", secrets: tuple[str, ...] = ()) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", secrets)
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Per-request access lines are noise next to the pipeline's own log.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
