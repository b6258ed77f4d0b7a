"""Exto's sub-table appends as a push spec (vendors.md §2.5): `subtable:<MODULE>:<tableId>`
with `append` (`{recordId, fields: {...}}`), up to 1,000 rows of one parent per request. Not
idempotent: a row sent twice is stored twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import orjson

from syncer import errors
from syncer.connectors import exto_answers as answers
from syncer.models import PushSpec, Request, Sender


def append(endpoint: str, operation: str, options: Mapping[str, str]) -> PushSpec:
    """Sub-table rows appended under a module record. Not idempotent: sending a row twice
    stores it twice. Before a parent's rows are first sent, the ids of the rows it already
    has are stored with them; a later doubt (a timeout, a push that died) is settled by
    matching the rows added since against the rows to send, and only the others are sent."""
    _, _, rest = endpoint.partition(":")
    module, _, table = rest.partition(":")
    if not module or not table:
        raise errors.ConfigError(
            f"Exto sub-table endpoint {endpoint!r}: use subtable:<MODULE>:<tableId>"
        )
    path = f"/api/v1/sub-table/{quote(table, safe='')}"

    def params(parent: str) -> dict[str, str]:
        # the seed names the parameter recordName, the docs recordId: send both
        return {"moduleName": module, "recordId": parent, "recordName": parent}

    def invalid(row: Any) -> str | None:
        if (problem := answers.not_object(row)) is not None:
            return problem
        if answers.text(row.get("recordId")) is None:
            return "a sub-table row needs recordId, the parent module record's _id"
        if not isinstance(row.get("fields"), dict) or not row["fields"]:
            return "a sub-table row needs fields, an object of the row's values"
        return None

    def request(rows: list[dict[str, Any]]) -> Request:
        return Request(
            path, params(rows[0]["recordId"]), method="POST", json=[r["fields"] for r in rows]
        )

    async def parent_rows(send: Sender, parent: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        number = 1
        while True:
            query = {**params(parent), "page": str(number), "pageSize": str(answers.MAX_ROWS)}
            body = await send(Request(path, query))
            rows = body.get("rows") if isinstance(body, dict) else body
            if not isinstance(rows, list):
                raise errors.FatalVendorError("Exto answered a sub-table read without rows")
            found += [r for r in rows if isinstance(r, dict)]
            if len(rows) < answers.MAX_ROWS:
                return found
            number += 1

    async def evidence(send: Sender, rows: list[dict[str, Any]]) -> Any:
        held = await parent_rows(send, _parent(rows))
        return {"before": sorted(answers.record_id(r) or "" for r in held)}

    async def landed(
        send: Sender, rows: list[dict[str, Any]], evidences: list[Any]
    ) -> list[dict[str, Any] | None]:
        out: list[dict[str, Any] | None] = [None] * len(rows)
        for parent in sorted({str(r["recordId"]) for r in rows}):
            mine = [i for i, r in enumerate(rows) if str(r["recordId"]) == parent]
            before = set()
            for i in mine:
                if isinstance(evidences[i], dict):
                    before |= set(evidences[i].get("before") or [])
            # the rows added since the evidence, by content; each may account for one row
            added: dict[bytes, list[dict[str, Any]]] = {}
            for record in await parent_rows(send, parent):
                if answers.record_id(record) not in before:
                    added.setdefault(_canonical(record.get("customFields")), []).append(record)
            for i in mine:
                same = added.get(_canonical(rows[i]["fields"]))
                if same:
                    out[i] = same.pop(0)
        return out

    return PushSpec(
        endpoint=endpoint,
        operation=operation,
        max_chunk=answers.MAX_ROWS,
        request=request,
        invalid=invalid,
        key=lambda row: orjson.dumps(row, option=orjson.OPT_SORT_KEYS).decode(),
        acknowledged=lambda body, sent: (
            answers.counts_add_up(body, sent)
            and isinstance(body, dict)
            and body.get("insertedCount") == sent
        ),
        identify=lambda record: (None, answers.record_id(record)),
        positional_ids=_inserted_ids,
        idempotent=False,
        group=lambda row: str(row["recordId"]),
        evidence=evidence,
        landed=landed,
        supersedes=False,
        whole_request=answers.whole_request("module", module),
    )


def _inserted_ids(body: Any) -> list[str]:
    ids = body.get("insertedIds") if isinstance(body, dict) else None
    return [i for i in ids if isinstance(i, str)] if isinstance(ids, list) else []


def _parent(rows: list[dict[str, Any]]) -> str:
    parents = Counter(str(r["recordId"]) for r in rows)
    assert len(parents) == 1, "a sub-table request holds the rows of one parent"
    return next(iter(parents))


def _canonical(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
