"""Config files for tests that run the CLI: one Exto connection against a sandbox, with the
settings a test needs, written as TOML where the command can read it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from tests.conftest import TOKEN_ENV


def exto_file(
    tmp_path: Path,
    base_url: str,
    *,
    name: str = "syncer.toml",
    streams: tuple[str, ...] = ("master:LOCATION",),
    options: dict[str, str] | None = None,
    extra: str = "",
    **settings: Any,
) -> Path:
    """`tmp_path/name`: one connection `exto` with `streams`, `options`, the given settings
    (`rate_limit = 1000` unless given) and `extra` TOML lines after it."""
    values: dict[str, Any] = {"rate_limit": 1000, **settings}
    lines = [
        "[[connections]]",
        'name = "exto"',
        'vendor = "exto"',
        f'base_url = "{base_url}"',
        f'token_env = "{TOKEN_ENV}"',
        *(f"{key} = {orjson.dumps(value).decode()}" for key, value in values.items()),
        f"streams = {orjson.dumps(list(streams)).decode()}",
    ]
    if options:
        pairs = ", ".join(
            f"{orjson.dumps(k).decode()} = {orjson.dumps(v).decode()}" for k, v in options.items()
        )
        lines.append(f"options = {{ {pairs} }}")
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n" + extra + "\n")
    return path
