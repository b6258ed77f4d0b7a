"""Logging: one structlog pipeline, JSON lines when stderr is not a terminal.

Secrets are removed twice: keys that name a secret are dropped, and every registered secret
value is replaced by *** wherever it appears in an event (a token inside an error text, say).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_SECRETS: set[str] = set()
_SECRET_KEYS = frozenset({"authorization", "token", "password", "api_key", "secret"})


def register_secret(value: str) -> None:
    """Never let `value` reach a log line."""
    if len(value) >= 4:
        _SECRETS.add(value)


def scrub(text: str) -> str:
    """`text` with every registered secret replaced by ***."""
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, "***")
    return text


def redact(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: drop secret-named keys and scrub secret values."""
    for key in list(event):
        if key.lower() in _SECRET_KEYS:
            event[key] = "***"
        elif isinstance(event[key], str):
            event[key] = scrub(event[key])
    return event


def configure(*, json: bool | None = None, level: str = "info") -> None:
    """Set up structlog once, at process start."""
    if json is None:
        json = not sys.stderr.isatty()
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
