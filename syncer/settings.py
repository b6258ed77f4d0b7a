"""Configuration: a TOML file of connections and streams, secrets from the environment only.

Only this module and `cli.py` read the environment.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from syncer import errors

DATABASE_URL_ENV = "SYNCER_DATABASE_URL"
HOME_ENV = "SYNCER_HOME"
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_CONNECTION_NAME = re.compile(r"^[a-z][a-z0-9_]{0,29}$")
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


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


class ConnectionConfig(BaseModel):
    """One vendor credential and the streams read with it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="short lower-case name; part of every mirror table name")
    vendor: Literal["exto", "actito", "xtrakit", "ioto"]
    base_url: str = Field(description="the API root, e.g. https://platform.exto360.com/data")
    token_env: str = Field(description="name of the environment variable holding the token")
    rate_limit: float = Field(gt=0, description="requests per rate_period the vendor allows")
    rate_period: float = Field(default=1.0, gt=0, description="seconds of the vendor's window")
    max_in_flight: int | None = Field(
        default=None, ge=1, description="most concurrent requests (a vendor cap, e.g. Actito)"
    )
    headroom: float = Field(
        default=0.97, gt=0, le=1, description="fraction of rate_limit syncer paces at"
    )
    window: int = Field(default=8, ge=1, le=64, description="pages in flight per stream")
    window_mb: int = Field(
        default=64,
        ge=1,
        description=(
            "megabytes of response bodies in flight per stream: the window shrinks (to one "
            "page at least) when pages are large, so large records do not grow memory"
        ),
    )
    page_size: int | None = Field(
        default=None, ge=1, le=1000, description="records per page; default: the vendor's"
    )
    timeout: float = Field(default=60.0, gt=0, description="seconds per HTTP request")
    ca_file: Path | None = Field(
        default=None,
        description=(
            "PEM file of certificate authorities to trust for this vendor, besides the system's "
            "(a private CA, a sandbox's self-signed certificate); certificates are always verified"
        ),
    )
    max_attempts: int = Field(default=10, ge=1, description="attempts per request")
    retry_timeout: float = Field(
        default=600.0, gt=0, description="seconds one request may spend in retries (429s aside)"
    )
    rate_limit_deadline: float = Field(
        default=300.0,
        gt=0,
        description=(
            "seconds of nothing but 429s (no request of the credential succeeding) before a "
            "request gives up; until then 429s are waited out and cost no retry"
        ),
    )
    headers: dict[str, str] = Field(
        default_factory=dict, description="sent with every request, e.g. x-project-id"
    )
    options: dict[str, str] = Field(
        default_factory=dict, description="vendor settings, e.g. Ioto's account_id"
    )
    lookback_seconds: int = Field(
        default=86_400, ge=0, description="incremental re-read window before the cursor"
    )
    confirm_limit: int = Field(
        default=10_000,
        ge=0,
        description="most missing keys re-fetched by id to confirm deletes in one pass",
    )
    push_read_back: bool = Field(
        default=True,
        description=(
            "after a push, read the accepted keys back for vendor ids and the mirror; false: "
            "the next pull brings the mirror up to date (fewer requests)"
        ),
    )
    streams: tuple[str, ...] = Field(min_length=1)
    desired: tuple[DesiredState, ...] = Field(
        default=(), description="desired-state tables that `syncer push` diffs and sends"
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _CONNECTION_NAME.match(value):
            raise ValueError("use 1-30 characters: a lower-case letter, then a-z, 0-9 or _")
        return value

    @field_validator("token_env")
    @classmethod
    def _token_env(cls, value: str) -> str:
        if not _ENV_NAME.match(value):
            raise ValueError("must be an environment variable name such as EXTO_TOKEN")
        return value

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    def token(self) -> SecretStr:
        """The connection's token, read from the environment variable the config names."""
        value = os.environ.get(self.token_env, "")
        if not value.strip():
            raise errors.ConfigError(
                f"connection {self.name!r}: environment variable {self.token_env} is not set; "
                f"export it with the vendor token"
            )
        return SecretStr(value.strip())


class Config(BaseModel):
    """A whole configuration file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    connections: tuple[ConnectionConfig, ...] = Field(min_length=1)

    @field_validator("connections")
    @classmethod
    def _unique(cls, value: tuple[ConnectionConfig, ...]) -> tuple[ConnectionConfig, ...]:
        names = [c.name for c in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"connection names must be unique; repeated: {', '.join(dupes)}")
        return value


def load_config(path: Path) -> Config:
    """Read and validate a config file; every problem becomes a ConfigError naming the file."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise errors.ConfigError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise errors.ConfigError(f"cannot read config file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise errors.ConfigError(f"{path} is not valid TOML: {exc}") from None
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise errors.ConfigError(f"{path}: {problems}") from None


def database_url() -> str | None:
    """The server named by SYNCER_DATABASE_URL, or None for the embedded one."""
    value = os.environ.get(DATABASE_URL_ENV, "").strip()
    return value or None


def home() -> Path:
    """Where syncer keeps local state (the embedded Postgres): $SYNCER_HOME or ./.syncer."""
    return Path(os.environ.get(HOME_ENV, ".syncer")).resolve()
