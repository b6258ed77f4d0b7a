"""dlt, the peer of `make bench`: one run of dlt's `rest_api` source over the Exto sandbox's
master:LOCATION pages into Postgres, merged on `_id`, as a user of dlt would write it.

Runs in its own venv (.venv-dlt, bench/requirements-dlt.txt), never syncer's: it imports dlt
and nothing of syncer. bench/dlt_peer_run.py starts it as a subprocess and times it from
outside, process start included.

    .venv-dlt/bin/python bench/dlt_peer.py BASE_URL DATABASE_URL PIPELINES_DIR

BASE_URL is the sandbox's Exto base (`http://127.0.0.1:PORT/data`); PIPELINES_DIR is dlt's
working directory (its local state and load packages), kept from a first load to the re-syncs
that follow it. The last line printed is JSON: the seconds of `pipeline.run` and the rows
loaded per table.

What is set, and why (each a documented dlt setting a user tuning for speed would reach for):
- the page paginator with the total pages the answer carries (`totalPages`), 1-based, pages
  of 1,000 (syncer's bench reads the same pages), `data_selector` `rows`;
- `write_disposition` merge on `_id` (dlt's default merge strategy, delete-insert);
- NORMALIZE__WORKERS=2 (one per core) and extracted files rotated every 50,000 items so both
  workers have files to normalize; load files rotated the same way for the load's workers
  (LOAD__WORKERS left at dlt's default, 20);
- telemetry off (no network here beyond the package registries);
- everything else dlt's defaults: the nested `customFields` object flattened into
  `custom_fields__*` columns, its `tags` list into the child table
  `location__custom_fields__tags` (joined by `_dlt_parent_id`), the `insert_values` loader
  file format.
"""

from __future__ import annotations

import json
import os
import sys
import time
from urllib.parse import quote, urlsplit, urlunsplit

TUNING = {
    "NORMALIZE__WORKERS": "2",
    "EXTRACT__DATA_WRITER__FILE_MAX_ITEMS": "50000",
    "NORMALIZE__DATA_WRITER__FILE_MAX_ITEMS": "50000",
    "RUNTIME__DLTHUB_TELEMETRY": "false",
    "RUNTIME__LOG_LEVEL": "WARNING",
}
TOKEN_ENV = "DLT_PEER_TOKEN"
PAGE = 1000


def credentials(database_url: str) -> str:
    """The bench's database URL as dlt's postgres destination takes it. dlt insists on a
    password and a host: a URL without a password (trust or peer authentication: the system
    Postgres here, the embedded one) gets a placeholder the server never asks for, and one
    that names its host only in the query (the embedded server's socket directory,
    `?host=/dir`) gets `localhost` in front, which libpq's query `host` overrides."""
    parts = urlsplit(database_url)
    user = quote(parts.username or "postgres", safe="")
    password = quote(parts.password or "unused", safe="")
    netloc = f"{user}:{password}@{parts.hostname or 'localhost'}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def main(base_url: str, database_url: str, pipelines_dir: str) -> None:
    for name, value in TUNING.items():
        os.environ.setdefault(name, value)
    import dlt
    from dlt.sources.rest_api import rest_api_source

    source = rest_api_source(
        {
            "client": {
                "base_url": base_url.rstrip("/") + "/api/v1/",
                "auth": {"type": "bearer", "token": os.environ[TOKEN_ENV]},
                "paginator": {
                    "type": "page_number",
                    "base_page": 1,
                    "page_param": "page",
                    "total_path": "totalPages",
                },
            },
            "resource_defaults": {
                "primary_key": "_id",
                "write_disposition": "merge",
                "endpoint": {"params": {"pageSize": PAGE, "sort": "_id"}},
            },
            "resources": [
                {
                    "name": "location",
                    "endpoint": {"path": "master-record/LOCATION", "data_selector": "rows"},
                },
            ],
        },
        name="exto",
    )
    pipeline = dlt.pipeline(
        pipeline_name="exto_bench",
        pipelines_dir=pipelines_dir,
        destination=dlt.destinations.postgres(credentials=credentials(database_url)),
        dataset_name="exto",
        progress="log" if os.environ.get("DLT_PEER_PROGRESS") else None,
    )
    started = time.perf_counter()
    pipeline.run(source)
    seconds = time.perf_counter() - started
    trace = pipeline.last_trace
    rows = dict(trace.last_normalize_info.row_counts) if trace.last_normalize_info else {}
    print(json.dumps({"seconds": seconds, "rows": rows}), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
