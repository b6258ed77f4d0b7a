"""Configuration: a TOML file of connections and streams, secrets from the environment only.

Only this module, `db.py` (which Postgres: SYNCER_DATABASE_URL, SYNCER_HOME) and the CLI read
the environment.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from syncer import errors
from syncer.stream_config import (
    DesiredState,
    Schedule,
    StreamConfig,
    StreamSettings,
    cron_expression,
    seconds,
)

_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_CONNECTION_NAME = re.compile(r"^[a-z][a-z0-9_]{0,29}$")


_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(value: str) -> str:
    """`${VAR}` and `${VAR:-default}` in a base_url, from the environment (the sandbox config
    takes its port from SYNCER_SANDBOX_PORT this way). An unset VAR without a default is an
    error naming it: never a URL with a hole in it."""

    def one(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        found = os.environ.get(name, "").strip()
        if found:
            return found
        if default is not None:
            return default
        raise ValueError(f"uses ${{{name}}}, which is not set; export {name} or give a default")

    return _REFERENCE.sub(one, value)


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
    max_delete_share: float = Field(
        default=0.10,
        ge=0,
        le=1,
        description=(
            "a complete full pass whose confirmed deletes exceed this share of the stream's "
            "live rows (and 10 rows) holds them for `syncer deletes confirm`; 1 never holds"
        ),
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
    schedules: tuple[Schedule, ...] = Field(
        default=(), description="when the workers run every stream of the connection"
    )
    push_schedule: str | None = Field(
        default=None,
        description="a cron expression: when the workers push the connection's outbox",
    )
    max_staleness: float | None = Field(
        default=None, gt=0, description="seconds (or 30m, 26h, 7d) before `syncer health` warns"
    )
    history: bool = Field(
        default=False,
        description="keep every version of every key of each stream (per_stream may say otherwise)",
    )
    hash_key_env: str | None = Field(
        default=None,
        description="the environment variable holding the key of the streams' `hash` fields",
    )
    per_stream: dict[str, StreamSettings] = Field(
        default_factory=dict, description="settings of single streams, over the connection's"
    )
    notify_url: str | None = Field(
        default=None,
        description=(
            "where `syncer health` POSTs one JSON body per failed or stale stream: https://, "
            "or http:// to this machine only"
        ),
    )

    @field_validator("push_schedule")
    @classmethod
    def _push_schedule(cls, value: str | None) -> str | None:
        return None if value is None else cron_expression(value)

    @field_validator("max_staleness", mode="before")
    @classmethod
    def _staleness(cls, value: str | float | None) -> float | None:
        return None if value is None else seconds(value)

    @field_validator("hash_key_env")
    @classmethod
    def _hash_key_env(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            raise ValueError("must be an environment variable name such as SYNCER_HASH_KEY")
        return value

    @model_validator(mode="after")
    def _hash_key_named(self) -> ConnectionConfig:
        hashing = sorted(name for name, own in self.per_stream.items() if own.hash)
        if hashing and self.hash_key_env is None:
            raise ValueError(
                f"per_stream {', '.join(hashing)} hash fields, but hash_key_env is not set: name "
                "the environment variable holding the hash key"
            )
        return self

    @model_validator(mode="after")
    def _known_streams(self) -> ConnectionConfig:
        unknown = sorted(set(self.per_stream) - set(self.streams))
        if unknown:
            raise ValueError(
                f"per_stream names streams that are not in streams: {', '.join(unknown)}"
            )
        return self

    def stream_config(self, name: str) -> StreamConfig:
        """The stream's effective settings: its own in per_stream, else the connection's."""
        own = self.per_stream.get(name) or StreamSettings()
        return StreamConfig(
            connection=self.name,
            name=name,
            mode=own.mode or "full",
            schedules=self.schedules if own.schedules is None else own.schedules,
            page_size=own.page_size or self.page_size,
            window=own.window or self.window,
            max_staleness=own.max_staleness or self.max_staleness,
            options={**self.options, **own.options},
            headers={**self.headers, **own.headers},
            history=self.history if own.history is None else own.history,
            exclude=own.exclude,
            hash=own.hash,
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

    @field_validator("base_url", mode="before")
    @classmethod
    def _base_url(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        value = expand_env(value)
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("ca_file")
    @classmethod
    def _ca_file(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        # relative to the config file, not the working directory: cron starts elsewhere
        if value is None:
            return None
        base = (info.context or {}).get(CONFIG_DIR)
        path = value.expanduser()
        if not path.is_absolute() and base is not None:
            path = Path(base) / path
        if base is not None and not path.is_file():
            raise ValueError(f"{path} is not a file (relative paths start at the config's folder)")
        return path

    @model_validator(mode="after")
    def _no_token_in_clear(self) -> ConnectionConfig:
        # the token rides on every request: plain HTTP only where nobody else can listen
        host = urlsplit(self.base_url).hostname or ""
        if self.base_url.startswith("http://") and not is_loopback(host):
            raise ValueError(
                f"connection {self.name!r}: base_url {self.base_url} is plain http:// to "
                f"another machine, which would send the token in clear; use https:// "
                f"(http:// is allowed only to this machine: 127.0.0.0/8, ::1, localhost)"
            )
        return self

    @field_validator("notify_url")
    @classmethod
    def _notify_url(cls, value: str | None) -> str | None:
        # never repeat the URL in the message: a webhook's path is often its credential
        if value is None:
            return None
        try:
            parts = urlsplit(value)
            host = parts.hostname or ""
        except ValueError:
            raise ValueError("is not a URL") from None
        if parts.scheme not in ("http", "https") or not host:
            raise ValueError("must be an https:// URL (or http:// to this machine)")
        if parts.scheme == "http" and not is_loopback(host):
            raise ValueError(
                f"is plain http:// to {host}, which would send what failed, and why, in clear; "
                "use https:// (http:// is allowed only to this machine: 127.0.0.0/8, ::1, "
                "localhost)"
            )
        return value

    def token(self) -> SecretStr:
        """The connection's token, read from the environment variable the config names."""
        value = os.environ.get(self.token_env, "")
        if not value.strip():
            raise errors.ConfigError(
                f"connection {self.name!r}: environment variable {self.token_env} is not set; "
                f"export it with the vendor token"
            )
        return SecretStr(value.strip())


def missing_tokens(connections: Iterable[ConnectionConfig]) -> list[str]:
    """The token variables the connections name that the environment does not set (each once)."""
    missing: list[str] = []
    for conn in connections:
        if not os.environ.get(conn.token_env, "").strip() and conn.token_env not in missing:
            missing.append(conn.token_env)
    return missing


def tokens(connections: Iterable[ConnectionConfig]) -> dict[str, SecretStr]:
    """Each connection's token by name; one ConfigError naming every variable not set."""
    chosen = list(connections)
    missing = missing_tokens(chosen)
    if missing:
        several = len(missing) > 1
        raise errors.ConfigError(
            f"environment variable{'s' if several else ''} {', '.join(missing)} "
            f"{'are' if several else 'is'} not set; export {'each' if several else 'it'} with "
            "the vendor's token"
        )
    return {conn.name: conn.token() for conn in chosen}


class Config(BaseModel):
    """A whole configuration file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    connections: tuple[ConnectionConfig, ...] = Field(min_length=1)
    home: Path | None = Field(
        default=None,
        description=(
            "the folder of the embedded Postgres (when SYNCER_DATABASE_URL is unset), relative "
            "to this file: the same mirror from any working directory; SYNCER_HOME overrides it"
        ),
    )

    @field_validator("home")
    @classmethod
    def _home(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        base = (info.context or {}).get(CONFIG_DIR)
        if value is None or value.is_absolute() or base is None:
            return value
        return (Path(base) / value).resolve()

    @field_validator("connections")
    @classmethod
    def _unique(cls, value: tuple[ConnectionConfig, ...]) -> tuple[ConnectionConfig, ...]:
        names = [c.name for c in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"connection names must be unique; repeated: {', '.join(dupes)}")
        return value


#: validation context key: the folder of the config file, where relative paths start
CONFIG_DIR = "config_dir"


def is_loopback(host: str) -> bool:
    """True for an address of this machine only: localhost, 127.0.0.0/8, ::1."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def load_config(path: Path) -> Config:
    """Read and validate a config file; every problem becomes a ConfigError naming the file.

    Relative paths in it (`ca_file`) start at the file's folder, whatever the working directory.
    """
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise errors.ConfigError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise errors.ConfigError(f"cannot read config file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise errors.ConfigError(f"{path} is not valid TOML: {exc}") from None
    try:
        return Config.model_validate(raw, context={CONFIG_DIR: path.resolve().parent})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise errors.ConfigError(f"{path}: {problems}") from None
