"""`syncer sandbox`: the local emulator of the four vendors, served until interrupted.

It says it is ready only once its port is bound (`make run` waits for that line), and a port
that is already taken is a one-line error naming the way out, never a silent second server."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ssl
from pathlib import Path
from typing import Annotated

import typer

from syncer import errors
from syncer.cli.app import (
    self_command,
)
from syncer.report import err

#: what the sandbox prints once it listens; scripts/run-sandbox-sync waits for it
READY = "sandbox: ready"
#: the environment config/sandbox.toml reads, with the sandbox's default credentials
_SHIPPED_ENV = (
    ("SYNCER_EXTO_TOKEN", "exto"),
    ("SYNCER_ACTITO_KEY", "actito"),
    ("SYNCER_XTRAKIT_KEY", "xtrakit"),
    ("SYNCER_IOTO_TOKEN", "ioto"),
)


def sandbox(
    port: Annotated[int, typer.Option(help="TCP port on 127.0.0.1.")] = 8765,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    records: Annotated[int, typer.Option(help="Exto master records.")] = 50_000,
    module_records: Annotated[int, typer.Option(help="Exto module records.")] = 2_000,
    seed: Annotated[int, typer.Option(help="Seed of the generated data.")] = 1,
    rate_limit: Annotated[int, typer.Option(help="Requests per second per token; 0: none.")] = 3,
    retry_after: Annotated[bool, typer.Option(help="Send Retry-After with 429s.")] = False,
    latency_ms: Annotated[float, typer.Option(help="Added to every data request.")] = 0.0,
    token: Annotated[
        list[str] | None,
        typer.Option(metavar="TOKEN", help="Accepted Exto token(s). Default: sandbox-token."),
    ] = None,
    envelope: Annotated[str, typer.Option(help="rows ({rows,total,...}) or array.")] = "rows",
    churn_inserts: Annotated[
        int, typer.Option(help="Records inserted after each page served (offset shifts).")
    ] = 0,
    churn_deletes: Annotated[
        int, typer.Option(help="Records deleted after each page served (offset shifts).")
    ] = 0,
    poison: Annotated[bool, typer.Option(help="Add records syncer must quarantine.")] = False,
    other_records: Annotated[
        int, typer.Option(help="Records per stream of Actito, XtraKit and Ioto.")
    ] = 5_000,
    limits: Annotated[
        bool, typer.Option(help="Enforce every vendor's documented limits (off: none at all).")
    ] = True,
    tls_cert: Annotated[
        Path | None, typer.Option(help="PEM certificate (chain): serve HTTPS instead of HTTP.")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option(help="PEM private key of --tls-cert.")] = None,
) -> None:
    """Run the local emulator of the four vendors until interrupted (Ctrl-C).

    Exto at /data, Actito at /actito, XtraKit at /xtrakit/api/v1, Ioto at /ioto, each with the
    documented limits. Once it listens it prints the `export` lines config/sandbox.toml needs
    in another terminal. Control routes (no auth) per vendor: GET <prefix>/_sandbox/stats,
    POST <prefix>/_sandbox/generation {"change_pct": 1, "delete_pct": 0.1, "insert_pct": 0.1},
    POST <prefix>/_sandbox/config {knobs} (Exto's prefix is empty).

    Example: syncer sandbox --records 300000 --no-limits --port 8765
    """
    from syncer.sandbox.actito import DEFAULT_API_KEY, ActitoConfig
    from syncer.sandbox.app import create_all, serve_app
    from syncer.sandbox.exto import DEFAULT_TOKEN, ExtoConfig
    from syncer.sandbox.ioto import DEFAULT_TOKEN as IOTO_TOKEN
    from syncer.sandbox.ioto import IotoConfig
    from syncer.sandbox.xtrakit import DEFAULT_KEY, XtraKitConfig

    cfg = ExtoConfig(
        seed=seed,
        master_records=records,
        module_records=module_records,
        rate_limit=rate_limit if limits else 0,
        retry_after=retry_after,
        latency_ms=latency_ms,
        tokens=tuple(token) if token else (DEFAULT_TOKEN,),
        churn_inserts_per_page=churn_inserts,
        churn_deletes_per_page=churn_deletes,
        poison=poison,
    )
    try:
        cfg.apply({"envelope": envelope})
    except ValueError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False)
        raise typer.Exit(int(errors.ExitCode.USAGE)) from None
    n = other_records
    actito = ActitoConfig(profiles=n, custom_records=n, seed=seed, latency_ms=latency_ms)
    xtrakit = XtraKitConfig(customers=n, items=n, sales=n, seed=seed, latency_ms=latency_ms)
    ioto = IotoConfig(devices=n, store_items=n, logs=n, seed=seed, latency_ms=latency_ms)
    if not limits:
        for vendor in (actito, xtrakit, ioto):
            vendor.rate_limit = 0
        actito.max_concurrent = 0
    app = create_all(cfg, actito, xtrakit, ioto)
    tls = None
    if tls_cert is not None or tls_key is not None:
        if tls_cert is None or tls_key is None:
            err.print("error: --tls-cert and --tls-key go together")
            raise typer.Exit(int(errors.ExitCode.USAGE))
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(tls_cert, tls_key)
    base = f"{'https' if tls else 'http'}://{host}:{port}"
    secrets = dict(
        zip(
            (name for name, _ in _SHIPPED_ENV),
            (cfg.tokens[0], DEFAULT_API_KEY, DEFAULT_KEY, IOTO_TOKEN),
            strict=True,
        )
    )

    def ready() -> None:
        exports = " ".join(f"{name}={value}" for name, value in secrets.items())
        err.print(
            f"{READY}: Exto {base}/data ({records} master records, "
            f"{cfg.rate_limit or 'no'} req/s limit), Actito {base}/actito, "
            f"XtraKit {base}/xtrakit/api/v1, Ioto {base}/ioto ({n} records per stream)\n"
            "To sync config/sandbox.toml against it from another terminal:\n"
            f"  export SYNCER_SANDBOX_PORT={port} {exports}\n"
            f"  {self_command()} sync --config config/sandbox.toml\n"
            "Ctrl-C stops it.",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve_app(app, host, port, ssl_context=tls, on_ready=ready))
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        err.print(
            f"error: port {port} is in use (another sandbox, or another server); "
            f"try --port {port + 1}, or `make run PORT={port + 1}`",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(int(errors.ExitCode.AUTH_OR_CONFIG)) from None
