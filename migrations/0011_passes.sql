-- A stream's passes in progress, one per mode (issue 11): a resumable full pass (a backfill
-- that takes days) and the nightly incremental passes coexist; an incremental run no longer
-- discards the full pass's checkpoint, and the full pass resumes from it whatever ran between.
-- The columns are stream_state's former pass_* columns, moved here.
CREATE TABLE syncer.passes (
    pass_id          bigint PRIMARY KEY,
    stream_id        bigint NOT NULL REFERENCES syncer.streams,
    -- backfill: a full read bounded by dates (syncer backfill --since/--until): no deletes
    mode             text NOT NULL CHECK (mode IN ('full', 'incremental', 'backfill')),
    params           jsonb NOT NULL,
    started_at       timestamptz NOT NULL DEFAULT pg_catalog.now(),
    -- the highest contiguous page merged (committed with that page's rows), and for cursor
    -- paging the cursor of the page after it
    checkpoint_page  integer NOT NULL DEFAULT 0,
    checkpoint_cursor jsonb,
    keys_written     bigint NOT NULL DEFAULT 0,
    max_updated_at   timestamptz,
    problems         text[] NOT NULL DEFAULT '{}',
    evidence         jsonb,
    updated_at       timestamptz NOT NULL DEFAULT pg_catalog.now(),
    UNIQUE (stream_id, mode)
);

INSERT INTO syncer.passes (pass_id, stream_id, mode, params, started_at, checkpoint_page,
                           checkpoint_cursor, keys_written, max_updated_at, problems, evidence)
SELECT pass_id, stream_id, pass_mode, COALESCE(pass_params, '{}'::jsonb),
       COALESCE(pass_started_at, pg_catalog.now()), checkpoint_page, checkpoint_cursor,
       pass_keys_written, pass_max_updated_at, pass_problems, pass_evidence
FROM syncer.stream_state WHERE pass_id IS NOT NULL AND pass_mode IS NOT NULL;

ALTER TABLE syncer.stream_state
    DROP COLUMN pass_id, DROP COLUMN pass_mode, DROP COLUMN pass_params,
    DROP COLUMN pass_started_at, DROP COLUMN checkpoint_page, DROP COLUMN checkpoint_cursor,
    DROP COLUMN pass_keys_written, DROP COLUMN pass_max_updated_at, DROP COLUMN pass_problems,
    DROP COLUMN pass_evidence;
