"""The only place SQL runs. `async with Mirror.connect(url) as mirror`: the base (the pool,
locks and fences, stream registration: base.py) with eight parts sharing its pool:
`mirror.store` (passes, runs, merges, checkpoints, deletes: store.py), `mirror.views` (typed
views: views.py), `mirror.outbox` (the outbox and desired-state diffs: outbox.py),
`mirror.follow` (the mirrored records a push reads and follows: follow.py), `mirror.meta`
(the config's streams and schedules, for mirror_meta's views: meta.py), `mirror.lists` (a
stream's exclude and hash lists, brought to its stored rows: redaction.py) and `mirror.history`
(the type-2 history of the streams that keep one: history.py), `mirror.memo` (what full passes'
pages decoded to, by their body's digest: memo.py).
asyncpg errors become MirrorError (or ConfigError) in base.translate_errors and nowhere else.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import asyncpg

from syncer.mirror.base import (
    ENGINE_COLUMNS,
    REFUSALS,
    SESSION_SETTINGS,
    Database,
    Fence,
    StreamRef,
    connect_one,
    init_connection,
    refused,
    secret_parts,
    table_name,
    translate_errors,
)
from syncer.mirror.follow import Follow
from syncer.mirror.history import History, HistoryChange
from syncer.mirror.memo import Memos, Recalled, Remembered
from syncer.mirror.merge import MergeArgs, MergeResult
from syncer.mirror.meta import Meta
from syncer.mirror.outbox import DesiredColumns, Outbox, OutboxRow, OutboxState, desired_diff_sql
from syncer.mirror.redaction import Lists
from syncer.mirror.store import PassState, Store, StreamState
from syncer.mirror.view_columns import MAX_VIEW_COLUMNS
from syncer.mirror.views import (
    ViewColumn,
    Views,
    assign_view_columns,
    column_type,
    view_ddl,
)

__all__ = [
    "ENGINE_COLUMNS",
    "MAX_VIEW_COLUMNS",
    "REFUSALS",
    "SESSION_SETTINGS",
    "DesiredColumns",
    "Fence",
    "HistoryChange",
    "MergeArgs",
    "MergeResult",
    "Mirror",
    "OutboxRow",
    "OutboxState",
    "PassState",
    "Recalled",
    "Remembered",
    "StreamRef",
    "StreamState",
    "ViewColumn",
    "assign_view_columns",
    "column_type",
    "connect_one",
    "desired_diff_sql",
    "refused",
    "table_name",
    "translate_errors",
    "view_ddl",
]


class Mirror(Database):
    """The mirror database and its parts: `mirror.store`, `mirror.views`, `mirror.outbox`,
    `mirror.follow`, `mirror.meta`, `mirror.history`, `mirror.memo`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool)
        self.store = Store(self)
        self.views = Views(self)
        self.outbox = Outbox(self, self.views)
        self.follow = Follow(self)
        self.meta = Meta(self)
        self.lists = Lists(self)  # a stream's exclude and hash lists (redaction.py)
        self.history = History(self)
        self.memo = Memos(self)

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(cls, url: str, *, max_size: int = 10) -> AsyncIterator[Mirror]:
        secret_parts(url)
        with translate_errors("connecting"):
            pool = await asyncpg.create_pool(
                url,
                min_size=1,
                max_size=max_size,
                init=init_connection,
                command_timeout=600,
                server_settings=SESSION_SETTINGS,
            )
        try:
            yield cls(pool)
        finally:
            await pool.close()
