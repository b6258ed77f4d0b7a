"""Local emulators of the four vendors' APIs, written from their documents (docs/sandbox.md).

One package per vendor, shaped alike (`app.py` with `create_app`, `config.py`, `state.py`,
`data.py`, the read and write routes, `control.py`): `exto/`, `actito/`, `xtrakit/`, `ioto/`.
What they share is written once in `common/` (control routes, the write ledger, the request log,
rate limiting, wire helpers, serving). `app.py` puts the four on one app for `syncer sandbox`.

In a test, served by `aiohttp.test_utils.TestServer`:

    from syncer.sandbox.exto import EXTO_KEY, ExtoConfig, create_app

    app = create_app(ExtoConfig(master_records=1_000))
    sb = app[EXTO_KEY]  # the live ExtoSandbox: config knobs, records(), generation(), request_log

The sandbox never imports syncer's client code (connectors, http, engine, mirror, push).
"""
