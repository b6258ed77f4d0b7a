"""Logging: one structlog pipeline, JSON lines when stderr is not a terminal.

Secrets are removed twice: keys that name a secret are dropped, and every registered secret
value (vendor tokens and keys, Actito's exchanged tokens, the database password) is replaced by
*** wherever it appears in an event (a token inside an error text, say), nested values too.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_SECRETS: set[str] = set()
#: whether events are JSON lines (set by `configure`): then everything on stderr is
_JSON = [False]
_CONFIGURED = [False]
_SECRET_KEYS = frozenset({"authorization", "token", "password", "api_key", "secret"})


def register_secret(value: str) -> None:
    """Never let `value` reach a log line."""
    if len(value) >= 4:
        _SECRETS.add(value)


def scrub(text: str) -> str:
    """`text` with every registered secret replaced by ***."""
    # longest first: a secret that contains another is replaced whole
    for secret in sorted(_SECRETS, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "***")
    return text


#: events a command's own report repeats on a terminal (`summarised`)
_SUMMARISED: set[str] = set()


def summarised(*events: str) -> None:
    """On a terminal, leave `events` to the command's summary, which says the same: an error
    is printed once. JSON lines keep every event."""
    if not _JSON[0]:
        _SUMMARISED.update(events)


def _drop_summarised(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    if event.get("event") in _SUMMARISED:
        raise structlog.DropEvent
    return event


def redact(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: drop secret-named keys and scrub secret values, nested ones too."""
    for key in list(event):
        event[key] = "***" if key.lower() in _SECRET_KEYS else _scrubbed(event[key])
    return event


def _scrubbed(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {
            k: "***" if str(k).lower() in _SECRET_KEYS else _scrubbed(v) for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_scrubbed(v) for v in value]
    if isinstance(value, BaseException):
        return scrub(f"{type(value).__name__}: {value}")
    return value


def configure(*, json: bool | None = None, level: str = "info") -> None:
    """Set up structlog once, at process start."""
    if json is None:
        json = not sys.stderr.isatty()
    _JSON[0] = json
    _CONFIGURED[0] = True
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
            _drop_summarised,
            redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    _route_stdlib(renderer, level)


def _route_stdlib(renderer: Any, level: str) -> None:
    """Libraries that log through the standard library (procrastinate's worker, asyncio) write
    through the same pipeline: the same format, level and secret scrubbing."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.stdlib.ExtraAdder(),
                structlog.processors.format_exc_info,
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                redact,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    # chatty at info: pgserver narrates every start; procrastinate its set-up (the worker
    # command turns procrastinate's job events back on: `worker_events`)
    for name in ("pgserver", "procrastinate"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))


def configured() -> bool:
    """Whether `configure` ran in this process."""
    return _CONFIGURED[0]


def is_json() -> bool:
    """Whether stderr carries JSON lines only (off a terminal, or --json-logs)."""
    return _JSON[0]


def worker_events() -> None:
    """procrastinate's job events (started, succeeded, failed, retried) at the run's level."""
    logging.getLogger("procrastinate").setLevel(logging.getLogger().level)
