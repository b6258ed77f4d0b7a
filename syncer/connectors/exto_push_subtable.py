"""Exto's sub-table writes as push specs (vendors.md §2.5, the OpenAPI document's
writeSubTableRows and deleteSubTableRows): `subtable:<MODULE>:<tableId>` with `append`
(`{recordId, fields: {...}}`) and `delete` (`{recordId, recordNumber}`), up to 1,000 rows of one
parent per request. The endpoint may name the parent itself, `subtable:<MODULE>:<tableId>:
<recordId>` (the stream's name), and its rows leave `recordId` out. Appends are not idempotent:
a row sent twice is stored twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import orjson

from syncer import errors
from syncer.connectors import exto_answers as answers
from syncer.models import Answer, Follow, Order, PushSpec, ReadBack, Request, Sender, Unapplied


class _Table:
    """A sub-table endpoint: its module, table, path, and the parent it names, if any."""

    def __init__(self, endpoint: str) -> None:
        _, _, rest = endpoint.partition(":")
        self.module, _, rest = rest.partition(":")
        self.table, _, self.parent = rest.partition(":")
        if not self.module or not self.table or ":" in self.parent:
            raise errors.ConfigError(
                f"Exto sub-table endpoint {endpoint!r}: use subtable:<MODULE>:<tableId> or "
                "subtable:<MODULE>:<tableId>:<recordId>"
            )
        self.path = f"/api/v1/sub-table/{quote(self.table, safe='')}"
        #: appends and deletes of one sub-table, whichever way their endpoint names the parent
        self.family = f"subtable:{self.module.upper()}:{self.table}"

    def parent_of(self, row: dict[str, Any]) -> str:
        """The parent module record's _id a row is about."""
        return self.parent or str(row["recordId"])

    def params(self, parent: str) -> dict[str, str]:
        # the seed names the parameter recordName, the docs recordId: send both
        return {"moduleName": self.module, "recordId": parent, "recordName": parent}

    def invalid_parent(self, row: Any) -> str | None:
        """Why a row's parent is not known (None when it is)."""
        if (problem := answers.not_object(row)) is not None:
            return problem
        given = row.get("recordId")
        if self.parent:
            if given is not None and answers.text(given) != self.parent:
                return f"recordId {given!r} is not the endpoint's parent {self.parent!r}"
            return None
        if answers.text(given) is None:
            return "a sub-table row needs recordId, the parent module record's _id"
        return None


def append(endpoint: str, operation: str, options: Mapping[str, str]) -> PushSpec:
    """Sub-table rows appended under a module record. Not idempotent: sending a row twice
    stores it twice. Before a parent's rows are first sent, the ids of the rows it already
    has are stored with them; a later doubt (a timeout, a push that died) is settled by
    matching the rows added since against the rows to send, and only the others are sent."""
    sub = _Table(endpoint)
    path, params = sub.path, sub.params

    def invalid(row: Any) -> str | None:
        if (problem := sub.invalid_parent(row)) is not None:
            return problem
        if not isinstance(row.get("fields"), dict) or not row["fields"]:
            return "a sub-table row needs fields, an object of the row's values"
        return None

    def request(rows: list[dict[str, Any]]) -> Request:
        return Request(
            path, params(sub.parent_of(rows[0])), method="POST", json=[r["fields"] for r in rows]
        )

    def key(row: dict[str, Any]) -> str:
        whole = {**row, "recordId": sub.parent_of(row)}
        return orjson.dumps(whole, option=orjson.OPT_SORT_KEYS).decode()

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
        parents = Counter(sub.parent_of(r) for r in rows)
        assert len(parents) == 1, "a sub-table request holds the rows of one parent"
        held = await parent_rows(send, next(iter(parents)))
        return {"before": sorted(answers.record_id(r) or "" for r in held)}

    async def landed(
        send: Sender, rows: list[dict[str, Any]], evidences: list[Any]
    ) -> list[dict[str, Any] | None]:
        out: list[dict[str, Any] | None] = [None] * len(rows)
        for parent in sorted({sub.parent_of(r) for r in rows}):
            mine = [i for i, r in enumerate(rows) if sub.parent_of(r) == parent]
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
        key=key,
        group=sub.parent_of,
        answer=Answer(
            acknowledged=lambda body, sent: (
                answers.counts_add_up(body, sent)
                and isinstance(body, dict)
                and body.get("insertedCount") == sent
            ),
            positional_ids=_inserted_ids,
            whole_request=answers.whole_request("module", sub.module),
        ),
        read_back=ReadBack(identify=lambda record: (None, answers.record_id(record))),
        unapplied=Unapplied(evidence=evidence, landed=landed),
        order=Order(supersedes=False, family=sub.family),
    )


def delete(endpoint: str, operation: str, options: Mapping[str, str]) -> PushSpec:
    """`DELETE /sub-table/{tableID}?moduleName=&recordId=` with `[{recordNumber}]`: rows of one
    parent per request. Exto documents a 200 and no body; a 200 `success: false` rejects the
    request's rows. A 404 `Record <id> not found.` means the parent is gone, and its rows with
    it: nothing is left to do. With the parent in the endpoint, the mirror of the stream of
    that name marks the rows deleted."""
    sub = _Table(endpoint)

    def invalid(row: Any) -> str | None:
        if (problem := sub.invalid_parent(row)) is not None:
            return problem
        if not isinstance(row.get("recordNumber"), str) or not row["recordNumber"]:
            return "a sub-table delete names the row by recordNumber (a string, e.g. 'T1-3')"
        return None

    def key(row: dict[str, Any]) -> str:
        if sub.parent:
            return str(row["recordNumber"])
        return orjson.dumps([sub.parent_of(row), row["recordNumber"]]).decode()

    def request(rows: list[dict[str, Any]]) -> Request:
        body = [{"recordNumber": r["recordNumber"]} for r in rows]
        return Request(sub.path, sub.params(sub.parent_of(rows[0])), method="DELETE", json=body)

    return PushSpec(
        endpoint=endpoint,
        operation=operation,
        max_chunk=answers.MAX_ROWS,
        request=request,
        invalid=invalid,
        key=key,
        group=sub.parent_of,
        answer=Answer(
            acknowledged=lambda body, sent: True,
            refused=answers.delete_refused,
            done_statuses=frozenset({404}),
            whole_request=answers.whole_request("module", sub.module),
        ),
        read_back=ReadBack(
            identify=lambda record: (answers.text(record.get("recordNumber")), None)
        ),
        follow=Follow(
            stream=endpoint if sub.parent else None, deletes=True, mirror_key=(("recordNumber",),)
        ),
        order=Order(family=sub.family),
    )


def _inserted_ids(body: Any) -> list[str]:
    ids = body.get("insertedIds") if isinstance(body, dict) else None
    return [i for i in ids if isinstance(i, str)] if isinstance(ids, list) else []


def _canonical(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
