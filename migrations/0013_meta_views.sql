-- Freshness and run history the analyst role can read (issue 14, part "meta"). The views in
-- mirror_meta are owned by syncer's role, so the analyst reads them through the view without any
-- right on schema syncer; they show no token (none ever reaches syncer's tables), no URL (every
-- text an error or warning holds goes through mirror_meta.without_urls) and no raw payload.

-- Live and deleted rows per stream, counted when a run ends (below), so that reading them never
-- scans a mirror table: `live_rows` are the rows whose _deleted_at is NULL, `deleted_rows` the
-- soft-deleted ones, `rows_counted_at` when they were counted.
ALTER TABLE syncer.stream_state
    ADD COLUMN live_rows bigint,
    ADD COLUMN deleted_rows bigint,
    ADD COLUMN rows_counted_at timestamptz;

-- What the config said of each stream the last time syncer ran with it (a sync, a worker's
-- start, a queued run): its vendor, its schedules as written, and their next ticks (ascending,
-- with each tick's mode), computed with croniter: SQL cannot read cron, so the view picks the
-- first tick after now(). A stream configured but never synced has a row here and none in
-- syncer.streams.
CREATE TABLE syncer.configured_streams (
    connection     text NOT NULL,
    stream         text NOT NULL,
    vendor         text NOT NULL,
    schedules      text[] NOT NULL,
    upcoming       timestamptz[] NOT NULL,
    upcoming_modes text[] NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (connection, stream)
);

-- the quarantine counted by stream and reason, without reading payloads
CREATE INDEX quarantine_stream_reason ON syncer.quarantine (stream_id, reason);

-- Count one stream's mirror table into stream_state; nothing for a stream without a table.
CREATE FUNCTION syncer.count_rows(target bigint) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tbl text;
    live bigint;
    gone bigint;
BEGIN
    SELECT s.table_name INTO tbl FROM syncer.streams s WHERE s.stream_id = target;
    IF tbl IS NULL OR pg_catalog.to_regclass(pg_catalog.format('mirror.%I', tbl)) IS NULL THEN
        RETURN;
    END IF;
    EXECUTE pg_catalog.format(
        'SELECT pg_catalog.count(*) FILTER (WHERE _deleted_at IS NULL), '
        'pg_catalog.count(*) FILTER (WHERE _deleted_at IS NOT NULL) FROM mirror.%I', tbl)
    INTO live, gone;
    UPDATE syncer.stream_state
    SET live_rows = live, deleted_rows = gone, rows_counted_at = pg_catalog.now()
    WHERE stream_id = target;
END $$;

-- Every run ends by setting its finished_at (a sync, a push following the mirror, `syncer
-- deletes confirm`, a run closed as abandoned): the stream's counts are refreshed then, in the
-- same transaction, whichever code path ended it.
CREATE FUNCTION syncer.run_finished() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM syncer.count_rows(s.stream_id)
    FROM syncer.streams s WHERE s.connection = NEW.connection AND s.stream = NEW.stream;
    RETURN NULL;
END $$;

CREATE TRIGGER runs_count_rows AFTER UPDATE OF finished_at ON syncer.runs
FOR EACH ROW WHEN (NEW.finished_at IS NOT NULL AND OLD.finished_at IS NULL)
EXECUTE FUNCTION syncer.run_finished();

-- the streams that exist now get their counts at once
SELECT syncer.count_rows(stream_id) FROM syncer.streams;

-- A text as the analyst may see it: every URL (any scheme://...) becomes <url> and every
-- host:port (a dotted name or address, then a port) becomes <host>, so an error that names a
-- connection's base_url never shows it.
CREATE FUNCTION mirror_meta.without_urls(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN pg_catalog.regexp_replace(
    pg_catalog.regexp_replace(value, '[a-z][a-z0-9+.-]*://[^\s''"<>()]+', '<url>', 'gi'),
    '(\[[0-9a-f:]+\]|[a-z0-9-]+(\.[a-z0-9-]+)+|localhost):[0-9]{1,5}', '<host>', 'gi');

COMMENT ON FUNCTION mirror_meta.without_urls(text) IS
    'The text with every URL replaced by <url> and every host:port by <host>';

-- Recent runs: every run of every stream (newest first with ORDER BY run_id DESC). mode: full,
-- incremental, backfill (syncs), push (the mirror following a push), deletes (an operator
-- confirming held deletes).
CREATE VIEW mirror_meta.runs AS
SELECT r.run_id, r.connection, r.stream, r.mode, r.status, r.started_at, r.finished_at,
       r.finished_at - r.started_at AS duration, r.complete,
       r.pages, r.records, r.inserted, r.updated, r.unchanged, r.deleted, r.quarantined,
       r.requests, r.rate_limited, r.retries,
       ARRAY(SELECT mirror_meta.without_urls(w) FROM pg_catalog.unnest(r.warnings) AS w)
           AS warnings,
       mirror_meta.without_urls(r.error) AS error
FROM syncer.runs r;

COMMENT ON VIEW mirror_meta.runs IS
    'Every run of every stream: mode, status, times, counts, warnings and error (URLs masked)';
COMMENT ON COLUMN mirror_meta.runs.complete IS
    'for a run that finished a pass: whether the pass was complete (its evidence agreed with the vendor)';
COMMENT ON COLUMN mirror_meta.runs.status IS
    'running, succeeded, quarantined (succeeded with records set aside), incomplete, failed, abandoned';

-- One row per stream: syncer's streams, and the streams a config named that never ran yet.
-- last_success_*: the newest sync (full, incremental or backfill) whose records landed (status
-- succeeded, quarantined or incomplete: syncer.status.LANDED); last_full_pass_at: the end of the
-- newest complete full pass, the time the mirror was last confirmed whole; last_run_*: the newest
-- run of any kind (a push following the mirror and `syncer deletes confirm` are runs too), maybe
-- still running; quarantined_last_run: records its newest finished sync set aside;
-- quarantined_keys / quarantined_records: distinct keys and records ever quarantined (records
-- without a key count in records only); next_run_at: the first tick of its schedules after now
-- (NULL: no schedule, or syncer has not run with its config since the ticks recorded ran out).
CREATE VIEW mirror_meta.streams AS
SELECT COALESCE(s.connection, c.connection) AS connection,
       COALESCE(s.stream, c.stream) AS stream,
       c.vendor,
       CASE WHEN pg_catalog.to_regclass('mirror.' || pg_catalog.quote_ident(s.table_name))
                 IS NOT NULL
            THEN 'mirror.' || pg_catalog.quote_ident(s.table_name) END AS mirror_table,
       CASE WHEN pg_catalog.to_regclass('mirror_view.' || pg_catalog.quote_ident(s.table_name))
                 IS NOT NULL
            THEN 'mirror_view.' || pg_catalog.quote_ident(s.table_name) END AS typed_view,
       ok.run_id AS last_success_run_id, ok.finished_at AS last_success_at,
       ok.mode AS last_success_mode,
       st.last_full_pass_at,
       st.live_rows, st.deleted_rows, st.rows_counted_at,
       done.quarantined AS quarantined_last_run,
       q.keys AS quarantined_keys, q.records AS quarantined_records,
       last.run_id AS last_run_id, last.mode AS last_run_mode, last.status AS last_run_status,
       last.started_at AS last_run_started_at, last.finished_at AS last_run_finished_at,
       mirror_meta.without_urls(last.error) AS last_run_error,
       nx.at AS next_run_at, nx.mode AS next_run_mode,
       c.schedules
FROM syncer.streams s
FULL JOIN syncer.configured_streams c ON c.connection = s.connection AND c.stream = s.stream
LEFT JOIN syncer.stream_state st ON st.stream_id = s.stream_id
LEFT JOIN LATERAL (
    SELECT r.run_id, r.finished_at, r.mode FROM syncer.runs r
    WHERE r.connection = s.connection AND r.stream = s.stream
      AND r.status IN ('succeeded', 'quarantined', 'incomplete')
      AND r.mode IN ('full', 'incremental', 'backfill')
    ORDER BY r.started_at DESC, r.run_id DESC LIMIT 1
) ok ON true
LEFT JOIN LATERAL (
    SELECT r.run_id, r.mode, r.status, r.started_at, r.finished_at, r.error FROM syncer.runs r
    WHERE r.connection = s.connection AND r.stream = s.stream
    ORDER BY r.started_at DESC, r.run_id DESC LIMIT 1
) last ON true
LEFT JOIN LATERAL (
    SELECT r.quarantined FROM syncer.runs r
    WHERE r.connection = s.connection AND r.stream = s.stream AND r.finished_at IS NOT NULL
      AND r.mode IN ('full', 'incremental', 'backfill')
    ORDER BY r.started_at DESC, r.run_id DESC LIMIT 1
) done ON true
LEFT JOIN LATERAL (
    SELECT pg_catalog.count(DISTINCT k.key) AS keys, pg_catalog.count(*) AS records
    FROM syncer.quarantine k WHERE k.stream_id = s.stream_id
) q ON true
LEFT JOIN LATERAL (
    SELECT u.at, u.mode
    FROM ROWS FROM (pg_catalog.unnest(c.upcoming), pg_catalog.unnest(c.upcoming_modes))
         AS u(at, mode)
    WHERE u.at > pg_catalog.now()
    ORDER BY u.at LIMIT 1
) nx ON true;

COMMENT ON VIEW mirror_meta.streams IS
    'One row per stream: freshness (last successful sync, last complete full pass), row counts, quarantine, newest run and next scheduled run';
COMMENT ON COLUMN mirror_meta.streams.last_success_at IS
    'end of the newest sync (full, incremental, backfill) whose records landed (succeeded, quarantined or incomplete)';
COMMENT ON COLUMN mirror_meta.streams.last_full_pass_at IS
    'end of the newest complete full pass: when the mirror was last confirmed whole (deletes included)';
COMMENT ON COLUMN mirror_meta.streams.live_rows IS
    'rows of the mirror table not deleted (_deleted_at IS NULL), counted when the newest run ended';
COMMENT ON COLUMN mirror_meta.streams.deleted_rows IS
    'rows of the mirror table soft-deleted (_deleted_at set), counted when the newest run ended';
COMMENT ON COLUMN mirror_meta.streams.rows_counted_at IS 'when live_rows and deleted_rows were counted';
COMMENT ON COLUMN mirror_meta.streams.quarantined_last_run IS
    'records the newest finished sync set aside in the quarantine';
COMMENT ON COLUMN mirror_meta.streams.quarantined_keys IS 'distinct keys ever quarantined';
COMMENT ON COLUMN mirror_meta.streams.quarantined_records IS
    'records ever quarantined (records without a key included)';
COMMENT ON COLUMN mirror_meta.streams.last_run_error IS 'the newest run''s error, URLs masked';
COMMENT ON COLUMN mirror_meta.streams.next_run_at IS
    'the next tick of the stream''s schedules (cron, UTC) on the workers; NULL: none';
COMMENT ON COLUMN mirror_meta.streams.schedules IS 'the stream''s schedules as configured: cron and mode';

-- The quarantine by stream and reason: how many records and keys, when first and last seen, by
-- which run last; never the payload.
CREATE VIEW mirror_meta.quarantine AS
SELECT s.connection, s.stream, mirror_meta.without_urls(k.reason) AS reason,
       pg_catalog.count(*) AS records,
       pg_catalog.count(DISTINCT k.key) AS keys,
       pg_catalog.count(*) FILTER (WHERE k.key IS NULL) AS records_without_key,
       pg_catalog.min(k.created_at) AS first_seen,
       pg_catalog.max(k.created_at) AS last_seen,
       pg_catalog.max(k.run_id) AS last_run_id
FROM syncer.quarantine k JOIN syncer.streams s ON s.stream_id = k.stream_id
GROUP BY s.connection, s.stream, k.reason;

COMMENT ON VIEW mirror_meta.quarantine IS
    'Records set aside (not stored) by stream and reason: counts and first/last seen, never the payload';

-- The schema-change log with the stream's names and its typed view.
CREATE VIEW mirror_meta.schema_changes AS
SELECT c.id, s.connection, s.stream,
       'mirror_view.' || pg_catalog.quote_ident(s.table_name) AS typed_view,
       c.run_id, c.at, c.kind, c.path,
       pg_catalog.array_to_string(c.path, '.') AS field,
       c.column_name, c.old_type, c.new_type,
       mirror_meta.without_urls(c.detail) AS detail
FROM syncer.schema_changes c JOIN syncer.streams s ON s.stream_id = c.stream_id;

COMMENT ON VIEW mirror_meta.schema_changes IS
    'Each change of a typed view: new field, type change, field absent, exclude/hash changes, with the run and time';
