"""Settings per stream (a connection's defaults, overridden stream by stream), and of a push's
desired-state tables (`DesiredState`).

    [[connections]]
    name = "exto"
    page_size = 1000
    schedules = [{ cron = "0 2 * * *", mode = "incremental" }]   # every stream of exto

    [connections.per_stream."master:LOCATION"]
    mode = "incremental"                # `syncer sync` without --mode
    schedules = [{ cron = "0 2 * * *", mode = "incremental" },
                 { cron = "0 4 * * 0", mode = "full" }]
    page_size = 500
    window = 4
    max_staleness = "26h"
    options = { status = "Approved", filter = "city:STRING:eq:Lyon" }
    headers = { "X-PROJECT-ID" = "42" }
    history = true                      # every version of every key, in mirror_history
    exclude = ["customFields.notes"]    # never stored, never in the hash
    hash = ["customFields.email"]       # stored as a keyed hash (connection's hash_key_env)

`options` are the vendor's read options for the stream, merged over the connection's (Exto:
`status`, `filter`); `headers` are sent with the stream's requests, over the connection's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from syncer import redact

#: the modes a config may name: `status.Mode`'s values but backfill (which needs its days). A
#: Literal of strings, not of the enum's members, so that a mistake reads "should be 'full' or
#: 'incremental'"
Mode = Literal["full", "incremental"]

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def seconds(value: str | float) -> float:
    """A duration: a number of seconds, or "90s", "30m", "26h", "7d"."""
    if isinstance(value, int | float):
        return float(value)
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a duration: use seconds, or 90s, 30m, 26h, 7d")
    return float(match.group(1)) * _UNITS[match.group(2)]


def cron_expression(value: str) -> str:
    """`value` if it is a cron expression of five fields; a ValueError saying what one is."""
    if len(value.split()) != 5 or not croniter.is_valid(value):
        raise ValueError(
            f"{value!r} is not a cron expression of five fields (minute hour day month "
            "weekday), e.g. '0 2 * * *' for 02:00 UTC every day"
        )
    return value


class Schedule(BaseModel):
    """When a stream runs on the workers: a cron expression (minute hour day month weekday,
    in UTC) and the mode of those runs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cron: str
    mode: Mode = "incremental"

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        return cron_expression(value)


class StreamSettings(BaseModel):
    """One stream's settings in the config; each unset one is the connection's."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Mode | None = Field(default=None, description="mode of `syncer sync` without --mode")
    schedules: tuple[Schedule, ...] | None = Field(
        default=None, description="replaces the connection's schedules for this stream"
    )
    page_size: int | None = Field(default=None, ge=1, le=1000)
    window: int | None = Field(default=None, ge=1, le=64)
    max_staleness: float | None = Field(
        default=None, gt=0, description="seconds (or 30m, 26h, 7d) before `syncer health` warns"
    )
    options: dict[str, str] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    history: bool | None = Field(
        default=None,
        description="keep every version of every key in mirror_history.<table> (type-2)",
    )
    exclude: tuple[str, ...] = Field(
        default=(),
        description="field paths (customFields.email) never stored and never in the hash",
    )
    hash: tuple[str, ...] = Field(
        default=(),
        description="field paths stored as a keyed hash (the key in the connection's hash_key_env)",
    )

    @field_validator("max_staleness", mode="before")
    @classmethod
    def _staleness(cls, value: str | float | None) -> float | None:
        return None if value is None else seconds(value)

    @model_validator(mode="after")
    def _redaction(self) -> StreamSettings:
        redact.check_lists(self.exclude, self.hash)
        return self


@dataclass(frozen=True)
class StreamConfig:
    """A stream's effective settings: its own, else its connection's."""

    connection: str
    name: str
    mode: Mode
    schedules: tuple[Schedule, ...]
    page_size: int | None
    window: int
    max_staleness: float | None
    options: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    #: keep every version of every key (mirror_history.<table>)
    history: bool = False
    #: field paths never stored, and field paths stored as a keyed hash
    exclude: tuple[str, ...] = ()
    hash: tuple[str, ...] = ()

    @property
    def qualified(self) -> str:
        return f"{self.connection}/{self.name}"


class DesiredState(BaseModel):
    """A table or view whose rows say what the vendor should hold for one push endpoint."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    table: str = Field(description="schema.table (or view) in the mirror database")
    endpoint: str = Field(description="push endpoint, e.g. master:LOCATION")
    key: str = Field(description="the column holding the vendor's unique field")
    fields: tuple[str, ...] = Field(min_length=1, description="columns sent when they differ")

    @field_validator("table")
    @classmethod
    def _table(cls, value: str) -> str:
        parts = value.split(".")
        if len(parts) != 2 or not all(_IDENTIFIER.match(p) for p in parts):
            raise ValueError("use schema.table with lower-case letters, digits and _")
        return value

    @field_validator("key", "fields")
    @classmethod
    def _columns(cls, value: str | tuple[str, ...]) -> str | tuple[str, ...]:
        for column in (value,) if isinstance(value, str) else value:
            if not _IDENTIFIER.match(column):
                raise ValueError(f"{column!r}: use lower-case letters, digits and _")
        return value
