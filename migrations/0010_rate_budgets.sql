-- One rate budget per vendor credential, shared by every syncer process that uses the
-- database (CLI syncs and pushes, workers on any machine): syncer/budget.py. Each request
-- reserves the next free send slot here; a 429 anywhere pauses the credential everywhere.
-- UNLOGGED: the rows are a few timestamps that only matter while processes run; they write no
-- WAL (one reservation per request), and a crash that empties the table loses nothing.
CREATE UNLOGGED TABLE syncer.rate_budgets (
    -- a digest of (vendor, base URL, token): the same credential in any config, never the
    -- token itself
    credential    text PRIMARY KEY,
    -- for people: "exto connection 'exto'" (the latest process to use it names it)
    label         text NOT NULL,
    -- requests per second paced now, over every process (lowered by 429s, raised by calm)
    rate          double precision NOT NULL CHECK (rate > 0),
    -- the earliest moment the next request of the credential may leave
    next_at       timestamptz NOT NULL,
    -- no request leaves before this (a 429's pause)
    paused_until  timestamptz NOT NULL DEFAULT '-infinity',
    -- requests reserved since the row was made, and 429s reported
    requests      bigint NOT NULL DEFAULT 0,
    limited       bigint NOT NULL DEFAULT 0,
    updated_at    timestamptz NOT NULL DEFAULT pg_catalog.now()
);
