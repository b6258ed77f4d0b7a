-- Every query syncer runs. $n parameters are described on the line after each name.
-- Every function is called with its schema (pg_catalog.now(), ...): a function a role planted
-- in another schema can never be chosen instead, whatever the session's search_path.
-- (A multi-array unnest is written ROWS FROM (pg_catalog.unnest(a), ...): only the bare name
-- gets that expansion.)

-- name: lock_stream_registry
-- (none): one registration of a stream (its row and its mirror table) at a time, for the
-- transaction: two CREATE TABLE IF NOT EXISTS of one table at once collide in pg_type, and two
-- streams whose names fold onto one table name would both find it free
SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('syncer.streams'));

-- name: get_stream
-- $1 connection, $2 stream
SELECT stream_id, table_name FROM syncer.streams WHERE connection = $1 AND stream = $2;

-- name: insert_stream
-- $1 connection, $2 stream, $3 table name
INSERT INTO syncer.streams (connection, stream, table_name) VALUES ($1, $2, $3)
ON CONFLICT (connection, stream) DO NOTHING;

-- name: table_name_taken
-- $1 table name
SELECT EXISTS (SELECT 1 FROM syncer.streams WHERE table_name = $1);

-- name: ensure_state
-- $1 stream_id
INSERT INTO syncer.stream_state (stream_id) VALUES ($1) ON CONFLICT DO NOTHING;

-- name: create_mirror_table
CREATE TABLE IF NOT EXISTS mirror.{table} (
    _pk                text PRIMARY KEY,
    _data              jsonb NOT NULL,
    _hash              bytea NOT NULL,
    _source_updated_at timestamptz,
    _synced_at         timestamptz NOT NULL,
    _deleted_at        timestamptz,
    _run_id            bigint NOT NULL
);

-- name: drop_empty_mirror_table
-- a stream the vendor does not have (a mistyped name): its table goes again unless it holds
-- a row; ACCESS EXCLUSIVE first, so no merge can slip in between the check and the drop. Its
-- history table (history on) goes with it: it only ever holds versions of the mirror's rows.
LOCK TABLE mirror.{table} IN ACCESS EXCLUSIVE MODE;
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM mirror.{table}) THEN
    DROP TABLE mirror.{table};
    DROP TABLE IF EXISTS mirror_history.{table};
  END IF;
END $$;

-- name: try_lock
-- $1 lock name
SELECT pg_catalog.pg_try_advisory_lock(pg_catalog.hashtextextended($1, 0));

-- name: unlock
-- $1 lock name
SELECT pg_catalog.pg_advisory_unlock(pg_catalog.hashtextextended($1, 0));

-- name: take_fence
-- $1 lock name: the next fencing token of whoever now holds the lock
INSERT INTO syncer.fences (name, token) VALUES ($1, 1)
ON CONFLICT (name) DO UPDATE SET token = syncer.fences.token + 1, taken_at = pg_catalog.now()
RETURNING token;

-- name: check_fence
-- $1 lock name: the current token, row-locked until the transaction ends, so a new holder
-- cannot take the lock's next token until this transaction's writes are committed
SELECT token FROM syncer.fences WHERE name = $1 FOR SHARE;

-- name: abandon_runs
-- $1 connection, $2 stream
UPDATE syncer.runs
SET status = 'abandoned', finished_at = pg_catalog.now(),
    error = 'the process ended before the run finished (killed or crashed); the next run resumed it'
WHERE connection = $1 AND stream = $2 AND status = 'running';

-- name: load_state
-- $1 stream_id
SELECT cursor, last_full_pass FROM syncer.stream_state WHERE stream_id = $1;

-- name: load_passes
-- $1 stream_id: its passes in progress (at most one per mode)
SELECT pass_id, mode, params, checkpoint_page, checkpoint_cursor, keys_written, problems,
       evidence
FROM syncer.passes WHERE stream_id = $1;

-- name: begin_pass
-- $1 stream_id, $2 mode, $3 params (jsonb): a new pass of that mode (the caller has dropped
-- any earlier one of the mode)
INSERT INTO syncer.passes (pass_id, stream_id, mode, params)
VALUES (pg_catalog.nextval('syncer.pass_seq'), $1, $2, $3)
RETURNING pass_id;

-- name: start_run
-- $1 invocation, $2 connection, $3 stream, $4 mode, $5 pass_id, $6 resumed from page
INSERT INTO syncer.runs (invocation, connection, stream, mode, pass_id, resumed_from_page)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING run_id;

-- name: create_stage
CREATE TEMP TABLE IF NOT EXISTS syncer_stage (
    pk         text NOT NULL,
    data       jsonb NOT NULL,
    hash       bytea NOT NULL,
    updated_at timestamptz
) ON COMMIT DELETE ROWS;

-- name: stage_unnest
-- $1 keys, $2 json texts, $3 hashes, $4 source updated-at
INSERT INTO syncer_stage (pk, data, hash, updated_at)
SELECT * FROM ROWS FROM (
    pg_catalog.unnest($1::text[]), pg_catalog.unnest($2::jsonb[]),
    pg_catalog.unnest($3::bytea[]), pg_catalog.unnest($4::timestamptz[])
);

-- name: differing_keys
-- $1 keys of a page (a JSON array), $2 their content hashes (16 bytes each, in the keys'
-- order): the keys whose live mirror row is missing or holds another hash. Only those rows
-- are staged: an unchanged page costs one index probe per key and sends back nothing. The
-- LATERAL ... LIMIT 1 keeps the plan an index probe per key (a hash join would scan the
-- whole mirror for every page).
SELECT k.key
FROM pg_catalog.jsonb_array_elements_text($1::jsonb) WITH ORDINALITY AS k(key, n)
LEFT JOIN LATERAL (
    SELECT m._hash FROM mirror.{table} m
    WHERE m._pk = k.key AND m._deleted_at IS NULL LIMIT 1
) m ON true
WHERE m._hash IS DISTINCT FROM pg_catalog.substr($2::bytea, ((k.n - 1) * 16 + 1)::integer, 16);

-- name: deletes_pending
-- $1 stream_id: whether the stream has keys missing from a pass or deletes held (a page's
-- merge forgets those of its keys; with none, it skips looking)
SELECT EXISTS (SELECT 1 FROM syncer.missing_keys WHERE stream_id = $1)
    OR EXISTS (SELECT 1 FROM syncer.held_deletes WHERE stream_id = $1);

-- name: transaction_now
SELECT pg_catalog.now();

-- name: mirror_empty
-- whether the stream's table holds no row at all, live or deleted
SELECT NOT EXISTS (SELECT 1 FROM mirror.{table});

-- name: merge_page
-- One page, in one statement (one round trip) after the COPY into syncer_stage of the page's
-- rows that differ from the mirror (differing_keys; possibly none):
-- $1 run_id, $2 stream_id, $3 pass_id, $4 page (NULL: rows re-read after the pass, the
-- checkpoint stays), $5 record keys for delete inference (full pass), $6 keys of quarantined records, $7 newest source updated-at, $8 rows on the page (staged or not),
-- $9..$13 the run's pages, records, requests, 429s and retries so far, $14 quarantined on
-- this page, $15 cursor of the next page (cursor paging; NULL after the last page), $16 the
-- run's fence (lock name; NULL: none), $17 completeness problems the page showed, $18 the
-- pass's evidence state after this page (NULL: unchanged), $19 the keys of every row of the
-- page (staged or not), as a JSON array, $20 whether to forget those keys' missing and held
-- deletes (false: the stream has none, deletes_pending), $21 rows of the page COPYed straight into
-- the table before this statement (a pass that began on an empty table), counted as inserted,
-- $22 the digest the page is remembered by (syncer.memo; NULL: not remembered), $23 its rows'
-- content hashes, $24 the rest of it (JSON), $25 its position (JSON).
-- The fence's row is locked FOR SHARE, and its token returned: the caller commits only if it
-- still holds the token (a new holder's take_fence waits for this commit).
-- Staged rows equal to the mirror (same hash, not deleted: a row staged because the page
-- before it, still merging, held its key too) are filtered out before the upsert, so they
-- are neither written nor locked. The LATERAL ... LIMIT 1 keeps the plan an index probe per
-- staged row whatever the planner guesses of the never-analyzed stage: a hash join would scan
-- the whole mirror for every page.
WITH changed AS (
    SELECT s.pk, s.data, s.hash, s.updated_at
    FROM syncer_stage s
    LEFT JOIN LATERAL (
        SELECT m._hash, m._deleted_at FROM mirror.{table} m WHERE m._pk = s.pk LIMIT 1
    ) m ON true
    WHERE m._hash IS NULL OR m._hash <> s.hash OR m._deleted_at IS NOT NULL
), written AS (
    INSERT INTO mirror.{table} AS m
        (_pk, _data, _hash, _source_updated_at, _synced_at, _deleted_at, _run_id)
    SELECT pk, data, hash, updated_at, pg_catalog.now(), NULL, $1 FROM changed
    ON CONFLICT (_pk) DO UPDATE
    SET _data = EXCLUDED._data, _hash = EXCLUDED._hash,
        _source_updated_at = EXCLUDED._source_updated_at, _synced_at = EXCLUDED._synced_at,
        _deleted_at = NULL, _run_id = EXCLUDED._run_id
    RETURNING (xmax = 0) AS inserted
), counts AS (
    SELECT pg_catalog.count(*) FILTER (WHERE inserted) + $21::bigint AS inserted,
           pg_catalog.count(*) FILTER (WHERE NOT inserted) AS updated
    FROM written
), keys AS (
    INSERT INTO syncer.pass_key_pages (pass_id, keys)
    SELECT $3::bigint, $19::jsonb || pg_catalog.to_jsonb($6::text[]) WHERE $5::boolean
), seen AS (
    DELETE FROM syncer.missing_keys mk
    WHERE $20::boolean AND mk.stream_id = $2
      AND mk.key = ANY(ARRAY(SELECT pg_catalog.jsonb_array_elements_text($19::jsonb)))
), unheld AS (
    DELETE FROM syncer.held_deletes h
    WHERE $20::boolean AND h.stream_id = $2
      AND h.key = ANY(ARRAY(SELECT pg_catalog.jsonb_array_elements_text($19::jsonb)))
), remembered AS (
    INSERT INTO syncer.page_memo (stream_id, digest, keys, hashes, page, position)
    SELECT $2, $22::bytea, $19::jsonb, $23::bytea, $24::text, $25::text
    WHERE $22::bytea IS NOT NULL
    ON CONFLICT (stream_id, digest) DO NOTHING
), fence AS (
    SELECT token FROM syncer.fences WHERE name = $16 FOR SHARE
), checkpoint AS (
    UPDATE syncer.passes
    SET checkpoint_page = COALESCE($4, checkpoint_page),
        checkpoint_cursor = CASE WHEN $4 IS NULL THEN checkpoint_cursor ELSE $15::jsonb END,
        keys_written = keys_written
            + CASE WHEN $5::boolean THEN $8::bigint + pg_catalog.cardinality($6::text[]) ELSE 0 END,
        max_updated_at = GREATEST(max_updated_at, $7::timestamptz),
        problems = problems || $17::text[],
        evidence = COALESCE($18::jsonb, evidence),
        updated_at = pg_catalog.now()
    WHERE stream_id = $2 AND pass_id = $3
    RETURNING 1
), progress AS (
    UPDATE syncer.runs r
    SET pages = $9, records = $10, requests = $11, rate_limited = $12, retries = $13,
        inserted = r.inserted + c.inserted, updated = r.updated + c.updated,
        unchanged = r.unchanged + $8 - c.inserted - c.updated,
        quarantined = r.quarantined + $14
    FROM counts c
    WHERE r.run_id = $1
)
SELECT c.inserted, c.updated, (SELECT pg_catalog.count(*) FROM checkpoint) AS checkpointed,
       (SELECT token FROM fence) AS fence_token
FROM counts c;

-- name: run_progress
-- $1 run_id, $2..$12 counters
UPDATE syncer.runs
SET pages = $2, records = $3, requests = $4, rate_limited = $5, retries = $6,
    inserted = $7, updated = $8, unchanged = $9, deleted = $10, quarantined = $11
WHERE run_id = $1;

-- name: quarantine
-- $1 stream_id, $2 run_id, $3 page, $4 key, $5 reason, $6 raw payload
INSERT INTO syncer.quarantine (stream_id, run_id, page, key, reason, raw)
VALUES ($1, $2, $3, $4, $5, $6);

-- name: count_pass_keys
-- $1 pass_id
SELECT COALESCE(pg_catalog.sum(pg_catalog.jsonb_array_length(keys)), 0)::bigint
FROM syncer.pass_key_pages WHERE pass_id = $1;

-- name: delete_candidates_settings
-- for delete_candidates, in its transaction: the pass's keys hashed in memory (a 300,000-key
-- hash spills to disk at the default 4 MB), and no merge anti-join (it sorts every key in the
-- database's collation: 220 ms of 280 at 300,000 keys)
SET LOCAL work_mem = '64MB';
SET LOCAL enable_mergejoin = off;

-- name: delete_candidates
-- $1 pass_id: live mirror keys the pass did not see (the pass's keys unnested once; a hash
-- anti-join against the table's primary-key index, index-only once vacuum has marked the
-- table's pages visible, then the few keys left checked for _deleted_at in the heap; 175-197
-- ms against 500-570 ms reading the heap, at 300,000 rows: BENCHMARKS.md)
WITH seen AS MATERIALIZED (
    SELECT pg_catalog.jsonb_array_elements_text(p.keys) AS key
    FROM syncer.pass_key_pages p WHERE p.pass_id = $1
), unseen AS MATERIALIZED (
    SELECT i._pk FROM mirror.{table} i
    WHERE NOT EXISTS (SELECT 1 FROM seen WHERE seen.key = i._pk)
)
SELECT m._pk FROM unseen u
JOIN LATERAL (
    SELECT x._pk FROM mirror.{table} x WHERE x._pk = u._pk AND x._deleted_at IS NULL LIMIT 1
) m ON true;

-- name: note_missing
-- $1 stream_id, $2 keys, $3 pass_id
INSERT INTO syncer.missing_keys (stream_id, key, first_missing_pass)
SELECT $1::bigint, k, $3::bigint FROM pg_catalog.unnest($2::text[]) AS k
ON CONFLICT DO NOTHING;

-- name: missing_before
-- $1 stream_id, $2 keys, $3 pass_id: keys also missing from an earlier complete pass
SELECT key FROM syncer.missing_keys
WHERE stream_id = $1 AND key = ANY($2::text[]) AND first_missing_pass < $3;

-- name: forget_missing
-- $1 stream_id, $2 keys
DELETE FROM syncer.missing_keys WHERE stream_id = $1 AND key = ANY($2::text[]);

-- name: soft_delete
-- $1 keys, $2 run_id
UPDATE mirror.{table} SET _deleted_at = pg_catalog.now(), _run_id = $2
WHERE _pk = ANY($1::text[]) AND _deleted_at IS NULL;

-- name: finish_pass
-- $1 stream_id, $2 whether it was a full pass, $3 whether it was complete, $4 pass_id.
-- The pass is over (its row goes). The cursor moves to the newest updatedAt the pass read, but
-- never past the moment the pass started: a record stamped in the future must not hide every
-- later change from incremental runs. A cursor another pass left stays (a long backfill that
-- finishes after nightly incremental runs does not pull it back), unless it is in the future:
-- then it is pulled back to this pass's start. An incomplete pass moves neither the cursor nor
-- the last complete full pass.
WITH done AS (
    DELETE FROM syncer.passes WHERE pass_id = $4 AND stream_id = $1
    RETURNING pass_id, started_at, max_updated_at
)
UPDATE syncer.stream_state st
SET last_full_pass = CASE WHEN $2 AND $3 THEN d.pass_id ELSE st.last_full_pass END,
    last_full_pass_at = CASE WHEN $2 AND $3 THEN pg_catalog.now() ELSE st.last_full_pass_at END,
    cursor = CASE
        WHEN NOT $3 THEN st.cursor
        ELSE GREATEST(
            CASE WHEN st.cursor > pg_catalog.now() THEN d.started_at ELSE st.cursor END,
            CASE WHEN d.max_updated_at IS NULL THEN NULL
                 ELSE LEAST(d.max_updated_at, d.started_at) END)
    END,
    updated_at = pg_catalog.now()
FROM done d
WHERE st.stream_id = $1
RETURNING st.cursor;

-- name: live_count
-- live rows of a mirror table
SELECT pg_catalog.count(*) FROM mirror.{table} WHERE _deleted_at IS NULL;

-- name: hold_deletes
-- $1 stream_id, $2 keys, $3 pass_id, $4 run_id: replaces the stream's held deletes
WITH gone AS (DELETE FROM syncer.held_deletes WHERE stream_id = $1)
INSERT INTO syncer.held_deletes (stream_id, key, pass_id, run_id)
SELECT $1::bigint, k, $3::bigint, $4::bigint FROM pg_catalog.unnest($2::text[]) AS k
ON CONFLICT (stream_id, key) DO UPDATE SET pass_id = EXCLUDED.pass_id, run_id = EXCLUDED.run_id,
    held_at = pg_catalog.now();

-- name: clear_held
-- $1 stream_id: returns how many were dropped
WITH gone AS (DELETE FROM syncer.held_deletes WHERE stream_id = $1 RETURNING 1)
SELECT pg_catalog.count(*) FROM gone;

-- name: held_keys
-- $1 stream_id
SELECT key FROM syncer.held_deletes WHERE stream_id = $1 ORDER BY key;

-- name: held_summary
-- per stream with held deletes: how many, by which pass and run, since when
SELECT s.connection, s.stream, pg_catalog.count(*) AS keys, pg_catalog.max(h.pass_id) AS pass_id,
       pg_catalog.max(h.run_id) AS run_id, pg_catalog.min(h.held_at) AS held_at
FROM syncer.held_deletes h JOIN syncer.streams s USING (stream_id)
GROUP BY s.connection, s.stream ORDER BY s.connection, s.stream;

-- name: stream_states
-- every stream's state, for `syncer state`
-- (one row per pass in progress: a stream with a full and an incremental pass has two)
SELECT s.connection, s.stream, s.table_name, st.cursor, p.pass_id, p.mode AS pass_mode,
       p.started_at AS pass_started_at, p.checkpoint_page, p.problems AS pass_problems,
       st.last_full_pass_at,
       (SELECT pg_catalog.count(*) FROM syncer.held_deletes h WHERE h.stream_id = s.stream_id) AS held
FROM syncer.streams s JOIN syncer.stream_state st USING (stream_id)
LEFT JOIN syncer.passes p USING (stream_id)
ORDER BY s.connection, s.stream, p.mode;

-- name: streams_named
-- $1 stream name: the (connection, stream) pairs registered under that name
SELECT connection, stream FROM syncer.streams WHERE stream = $1 ORDER BY connection;

-- name: set_cursor
-- $1 stream_id, $2 cursor (NULL: none; the next incremental run reads in full)
UPDATE syncer.stream_state SET cursor = $2, updated_at = pg_catalog.now() WHERE stream_id = $1;

-- name: discard_pass
-- $1 stream_id, $2 mode (NULL: every mode): those passes in progress are dropped; the next run
-- of the mode starts a new one at page 1. Returns the dropped pass ids (for their keys).
DELETE FROM syncer.passes WHERE stream_id = $1 AND ($2::text IS NULL OR mode = $2)
RETURNING pass_id;

-- name: discard_one_pass
-- $1 stream_id, $2 pass_id
DELETE FROM syncer.passes WHERE stream_id = $1 AND pass_id = $2;

-- name: drop_pass_keys
-- $1 pass_id
DELETE FROM syncer.pass_key_pages WHERE pass_id = $1;

-- name: finish_run
-- $1 run_id, $2 status, $3 error, $4 warnings, $5 whether the pass it finished was complete
UPDATE syncer.runs SET status = $2, error = $3, warnings = $4, complete = $5, finished_at = pg_catalog.now()
WHERE run_id = $1;

-- name: known_fields
-- $1 stream_id
SELECT path, json_type FROM syncer.stream_fields WHERE stream_id = $1;

-- name: add_field
-- $1 stream_id, $2 path, $3 JSON kind
INSERT INTO syncer.stream_fields (stream_id, path, json_type) VALUES ($1, $2, $3)
ON CONFLICT DO NOTHING;

-- name: stream_fields
-- $1 stream_id
SELECT path, pg_catalog.array_agg(json_type ORDER BY json_type) AS kinds
FROM syncer.stream_fields WHERE stream_id = $1 GROUP BY path ORDER BY path;

-- name: recent_runs
-- $1 limit
SELECT run_id, connection, stream, mode, status, started_at, finished_at, pages, records,
       inserted, updated, unchanged, deleted, quarantined, requests, rate_limited, error, warnings,
       pass_id, resumed_from_page
FROM syncer.runs ORDER BY run_id DESC LIMIT $1;

-- name: stream_health
-- $1 connections, $2 streams (pairwise: the configured streams, returned in this order),
-- $3 the statuses of a run that finished without failing. Per stream: its newest finished
-- run, its newest run that finished without failing, and the start of a run in progress
SELECT c.connection, c.stream,
       l.run_id AS last_run_id, l.status AS last_status, l.finished_at AS last_finished_at,
       l.error AS last_error,
       g.run_id AS good_run_id, g.finished_at AS good_finished_at,
       r.started_at AS running_since
FROM ROWS FROM (pg_catalog.unnest($1::text[]), pg_catalog.unnest($2::text[]))
     WITH ORDINALITY AS c(connection, stream, n)
LEFT JOIN LATERAL (
    SELECT run_id, status, finished_at, error FROM syncer.runs
    WHERE connection = c.connection AND stream = c.stream AND status <> 'running'
    ORDER BY started_at DESC, run_id DESC LIMIT 1
) l ON true
LEFT JOIN LATERAL (
    SELECT run_id, finished_at FROM syncer.runs
    WHERE connection = c.connection AND stream = c.stream AND status = ANY ($3::text[])
    ORDER BY started_at DESC, run_id DESC LIMIT 1
) g ON true
LEFT JOIN LATERAL (
    SELECT started_at FROM syncer.runs
    WHERE connection = c.connection AND stream = c.stream AND status = 'running'
    ORDER BY started_at DESC, run_id DESC LIMIT 1
) r ON true
ORDER BY c.n;

-- name: quote_literals
-- $1 strings: their SQL literals, in order, made by the server (right under any setting of
-- standard_conforming_strings: a backslash gets E'...')
SELECT pg_catalog.array_agg(pg_catalog.quote_literal(v) ORDER BY n)
FROM pg_catalog.unnest($1::text[]) WITH ORDINALITY AS t(v, n);

-- name: key_prevalence
-- $1 path of an object in the records ('{}': the record): its keys, and how many records hold each
SELECT k, pg_catalog.count(*) AS n
FROM mirror.{table},
     pg_catalog.jsonb_object_keys(
         CASE WHEN pg_catalog.jsonb_typeof(_data #> $1::text[]) = 'object'
              THEN _data #> $1::text[] ELSE '{}'::jsonb END
     ) AS k
GROUP BY k;

-- name: view_exists
-- $1 qualified view name
SELECT pg_catalog.to_regclass($1) IS NOT NULL;

-- name: next_push_id
SELECT pg_catalog.nextval('syncer.push_seq');

-- name: claim_outbox
-- $1 connection, $2 push_id, $3 most rows: the oldest rows still to send (pending, rejected
-- before, or left 'sending' by a push that died), not yet seen by this push
UPDATE syncer.outbox o
SET state = 'sending', push_id = $2, attempts = o.attempts + 1, updated_at = pg_catalog.now()
WHERE o.id IN (
    SELECT id FROM syncer.outbox
    WHERE connection = $1 AND state IN ('pending', 'sending', 'rejected')
      AND push_id IS DISTINCT FROM $2
    ORDER BY id
    LIMIT $3
    FOR UPDATE SKIP LOCKED
)
RETURNING o.id, o.endpoint, o.operation, o.payload, o.evidence;

-- name: mark_outbox
-- $1 ids, $2 state, $3 messages, $4 vendor ids (parallel arrays)
UPDATE syncer.outbox o
SET state = $2, message = m.message, vendor_id = COALESCE(m.vendor_id, o.vendor_id),
    updated_at = pg_catalog.now()
FROM ROWS FROM (
    pg_catalog.unnest($1::bigint[]), pg_catalog.unnest($3::text[]), pg_catalog.unnest($4::text[])
) AS m(id, message, vendor_id)
WHERE o.id = m.id;

-- name: supersede_outbox
-- $1 ids of rejected rows, $2 the later accepted row of the same key that supersedes each
UPDATE syncer.outbox o
SET state = 'superseded', superseded_by = m.later,
    message = 'superseded by outbox row ' || m.later || ', accepted later for the same key',
    updated_at = pg_catalog.now()
FROM ROWS FROM (pg_catalog.unnest($1::bigint[]), pg_catalog.unnest($2::bigint[])) AS m(id, later)
WHERE o.id = m.id AND o.state = 'rejected';

-- name: release_outbox
-- $1 ids, $2 why they were not sent: rows a push claimed but did not settle go back to pending
UPDATE syncer.outbox SET state = 'pending', message = $2, updated_at = pg_catalog.now()
WHERE id = ANY($1::bigint[]) AND state = 'sending';

-- name: plan_outbox
-- $1 connection (NULL: all): what a push would send, per endpoint and operation
SELECT connection, endpoint, operation, pg_catalog.count(*) AS rows,
       pg_catalog.count(*) FILTER (WHERE state = 'rejected') AS retried,
       (pg_catalog.array_agg('#' || id || ' ' || payload::text ORDER BY id))[1:3] AS samples,
       pg_catalog.array_agg(id ORDER BY id) AS ids
FROM syncer.outbox
WHERE state IN ('pending', 'sending', 'rejected') AND ($1::text IS NULL OR connection = $1)
GROUP BY connection, endpoint, operation
ORDER BY connection, endpoint, operation;

-- name: drop_outbox
-- $1 ids: an operator gives up on rows that cannot be sent
UPDATE syncer.outbox SET state = 'dropped', updated_at = pg_catalog.now()
WHERE id = ANY($1::bigint[]) AND state IN ('pending', 'rejected', 'invalid')
RETURNING id;

-- name: outbox_states
-- $1 ids: the state of each that exists (an operator's ids, checked before saying what happened)
SELECT id, state FROM syncer.outbox WHERE id = ANY($1::bigint[]);

-- name: set_outbox_evidence
-- $1 ids, $2 evidence (parallel arrays): recorded before the rows are first sent
UPDATE syncer.outbox o SET evidence = m.evidence, updated_at = pg_catalog.now()
FROM ROWS FROM (pg_catalog.unnest($1::bigint[]), pg_catalog.unnest($2::jsonb[]))
    AS m(id, evidence)
WHERE o.id = m.id;

-- name: outbox_payloads
-- $1 connection, $2 endpoint, $3 operation: the rows a push would send (for `syncer plan`)
SELECT payload FROM syncer.outbox
WHERE connection = $1 AND endpoint = $2 AND operation = $3
  AND state IN ('pending', 'sending', 'rejected')
ORDER BY id;

-- name: lock_stream_columns
-- $1 stream_id: one assignment of view columns per stream at a time
SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('syncer.stream_columns'), $1::integer);

-- name: stream_columns
-- $1 stream_id
SELECT path, column_name, column_type FROM syncer.stream_columns WHERE stream_id = $1;

-- name: assign_column
-- $1 stream_id, $2 path, $3 column name (NULL: no column), $4 column type
INSERT INTO syncer.stream_columns (stream_id, path, column_name, column_type)
VALUES ($1, $2, $3, $4)
ON CONFLICT (stream_id, path) DO UPDATE SET column_type = EXCLUDED.column_type;

-- name: view_current
-- $1 qualified view name, $2 stream_id, $3 the version mark of the views' definition: the
-- typed view exists, its comment has the mark (a view made by an older definition, or before
-- views were commented, is replaced once), and it has published every named field in the type
-- its values want (a refresh that could not replace the view left one that has not: the next
-- run tries again)
SELECT pg_catalog.strpos(pg_catalog.obj_description(pg_catalog.to_regclass($1), 'pg_class'), $3) > 0
   AND NOT EXISTS (
       SELECT 1 FROM syncer.stream_columns c
       WHERE c.stream_id = $2 AND c.column_name IS NOT NULL AND NOT EXISTS (
           SELECT 1 FROM syncer.view_columns v
           WHERE v.stream_id = c.stream_id AND v.path = c.path AND v.column_type = c.column_type));

-- name: view_lock_timeout
-- $1 how long replacing a typed view may wait for the analysts' queries on it
SELECT pg_catalog.set_config('lock_timeout', $1, true);

-- name: view_attributes
-- $1 qualified view name: its columns in order, with their types (none: no such view)
SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type
FROM pg_catalog.pg_attribute a
WHERE a.attrelid = pg_catalog.to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum;

-- name: published_columns
-- $1 stream_id: the typed columns its view has published, in the order they were
SELECT column_name, path, column_type, added_at
FROM syncer.view_columns WHERE stream_id = $1 ORDER BY seq;

-- name: publish_column
-- $1 stream_id, $2 column name, $3 field path, $4 SQL type, $5 run_id
INSERT INTO syncer.view_columns (stream_id, column_name, path, column_type, run_id)
VALUES ($1, $2, $3, $4, $5);

-- name: transaction_time
-- the time the transaction's rows are stamped with (their DEFAULT pg_catalog.now())
SELECT pg_catalog.now();

-- name: fields_first_seen
-- $1 stream_id: when each field was first given a column (or found without one)
SELECT path, assigned_at FROM syncer.stream_columns WHERE stream_id = $1;

-- name: log_schema_change
-- $1 stream_id, $2 run_id, $3 kind, $4 path, $5 column, $6 old type, $7 new type, $8 detail
INSERT INTO syncer.schema_changes
    (stream_id, run_id, kind, path, column_name, old_type, new_type, detail)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8);

-- name: pass_fields
-- $1 pass_id: the field paths the pass has seen so far
SELECT path FROM syncer.pass_fields WHERE pass_id = $1;

-- name: note_pass_field
-- $1 pass_id, $2 path: a field the pass saw (committed with the page that showed it)
INSERT INTO syncer.pass_fields (pass_id, path) VALUES ($1, $2) ON CONFLICT DO NOTHING;

-- name: count_absent_fields
-- $1 stream_id, $2 pass_id (complete, full, not yet closed), $3 passes that make a field
-- absent. Per field with a column: 0 when the pass saw it, one more when it did not; only the
-- counts that change are written (a pass that saw every field writes nothing). Returns the
-- fields whose count just reached $3. A pass begun before fields were tracked counts nothing.
WITH tracked AS (
    SELECT pass_id FROM syncer.passes WHERE pass_id = $2 AND stream_id = $1 AND fields_tracked
), counted AS (
    SELECT c.path, CASE WHEN f.path IS NULL THEN c.absent_passes + 1 ELSE 0 END AS n
    FROM syncer.stream_columns c
    CROSS JOIN tracked t
    LEFT JOIN syncer.pass_fields f ON f.pass_id = t.pass_id AND f.path = c.path
    WHERE c.stream_id = $1 AND c.column_name IS NOT NULL
)
UPDATE syncer.stream_columns c SET absent_passes = counted.n
FROM counted
WHERE c.stream_id = $1 AND c.path = counted.path AND c.absent_passes <> counted.n
RETURNING c.path, c.column_name, counted.n = $3 AS reached;

-- name: records_named
-- $1 field path, $2 values: each mirrored record whose field at $1 holds one of $2 (as text),
-- its data NULL where the mirror marked it deleted
SELECT _data #>> $1::text[] AS value, _pk,
    CASE WHEN _deleted_at IS NULL THEN _data END AS data
FROM mirror.{table} WHERE _data #>> $1::text[] = ANY($2::text[]);

-- name: records_by_field
-- $1 field path, $2 values: the live mirrored records whose field at $1 holds one of $2
SELECT _data #>> $1::text[] AS key, _data FROM mirror.{table}
WHERE _deleted_at IS NULL AND _data #>> $1::text[] = ANY($2::text[]);

-- name: delete_by_field
-- $1 field path, $2 values, $3 run_id: mark deleted the live records whose field holds a value
UPDATE mirror.{table} SET _deleted_at = pg_catalog.now(), _run_id = $3
WHERE _deleted_at IS NULL AND _data #>> $1::text[] = ANY($2::text[]);

-- name: record_configured_stream
-- $1 connection, $2 stream, $3 vendor, $4 schedules as written ('CRON MODE'), $5 their next
-- ticks (ascending), $6 each tick's mode: what the config says of a stream (mirror_meta.streams).
-- The row is rewritten only when the vendor or the schedules changed, or half its ticks have
-- passed: a run of an unchanged config writes nothing here.
INSERT INTO syncer.configured_streams AS c
    (connection, stream, vendor, schedules, upcoming, upcoming_modes)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (connection, stream) DO UPDATE
SET vendor = EXCLUDED.vendor, schedules = EXCLUDED.schedules, upcoming = EXCLUDED.upcoming,
    upcoming_modes = EXCLUDED.upcoming_modes, recorded_at = pg_catalog.now()
WHERE c.vendor <> EXCLUDED.vendor OR c.schedules <> EXCLUDED.schedules
   OR c.upcoming[pg_catalog.cardinality(c.upcoming) / 2 + 1] <= pg_catalog.now();

-- name: forget_configured_streams
-- $1 connections, $2 qualified names (CONNECTION/STREAM) the config still has: a stream the
-- config of its connection no longer names has no schedule any more
DELETE FROM syncer.configured_streams
WHERE connection = ANY($1::text[]) AND NOT (connection || '/' || stream = ANY($2::text[]));

-- (typed: a stream's exclude and hash lists, syncer/mirror/redaction.py)

-- name: redaction_lists
-- $1 stream_id: the lists the stream's last run had, locked until the transaction ends
SELECT exclude, hashed, key_check FROM syncer.stream_redaction WHERE stream_id = $1 FOR UPDATE;

-- name: save_redaction_lists
-- $1 stream_id, $2 exclude, $3 hashed, $4 key_check
INSERT INTO syncer.stream_redaction (stream_id, exclude, hashed, key_check)
VALUES ($1, $2, $3, $4)
ON CONFLICT (stream_id) DO UPDATE
    SET exclude = EXCLUDED.exclude, hashed = EXCLUDED.hashed, key_check = EXCLUDED.key_check,
        changed_at = pg_catalog.now();

-- name: record_list_change
-- $1 stream_id, $2 run_id, $3 kind, $4 path (as syncer.stream_fields writes it), $5 detail
INSERT INTO syncer.schema_changes (stream_id, run_id, kind, path, detail)
VALUES ($1, $2, $3, $4::text[], $5);

-- name: rows_holding
-- $1 top-level keys: the rows whose _data has one of them
SELECT _pk, _data::text AS data FROM mirror.{table} WHERE _data ?| $1::text[];

-- name: rewrite_row
-- $1 _pk, $2 data, $3 hash
UPDATE mirror.{table} SET _data = $2::jsonb, _hash = $3 WHERE _pk = $1;

-- name: history_columns
-- $1 'mirror_history.<table>', quoted: its columns, none when it does not exist
SELECT attname::text FROM pg_catalog.pg_attribute
WHERE attrelid = pg_catalog.to_regclass($1) AND attnum > 0 AND NOT attisdropped;

-- name: history_rows_holding
-- $1 top-level keys
SELECT ctid, _data::text AS data FROM mirror_history.{table} WHERE _data ?| $1::text[];

-- name: rewrite_history_data
-- $1 ctid, $2 data
UPDATE mirror_history.{table} SET _data = $2::jsonb WHERE ctid = $1;

-- name: rewrite_history_row
-- $1 ctid, $2 data, $3 hash
UPDATE mirror_history.{table} SET _data = $2::jsonb, _hash = $3 WHERE ctid = $1;

-- History (type-2) of the streams with `history = true` (syncer/mirror/history.py; the
-- triggers' functions are in migrations/0014_history.sql).

-- name: history_table_exists
-- $1 the history table's qualified name
SELECT pg_catalog.to_regclass($1) IS NOT NULL;

-- name: create_history_table
-- every version of every key: one open version (_valid_to NULL) per key at most; indexed for a
-- key's versions, "as of" a time and the changes between two times (index names: Postgres's)
CREATE TABLE mirror_history.{table} (
    _pk                text NOT NULL,
    _valid_from        timestamptz NOT NULL,
    _valid_to          timestamptz,
    _operation         text NOT NULL
                       CHECK (_operation IN ('insert', 'update', 'delete', 'undelete')),
    _data              jsonb NOT NULL,
    _hash              bytea NOT NULL,
    _source_updated_at timestamptz,
    _run_id            bigint NOT NULL
);
CREATE UNIQUE INDEX ON mirror_history.{table} (_pk) WHERE _valid_to IS NULL;
CREATE INDEX ON mirror_history.{table} (_pk, _valid_from);
CREATE INDEX ON mirror_history.{table} (_valid_from);
COMMENT ON TABLE mirror_history.{table} IS
    'Every version of every key of mirror.{table} (type-2 history, syncer; docs/analysts.md)';
COMMENT ON COLUMN mirror_history.{table}._pk IS 'the record''s key, as _pk in the mirror table';
COMMENT ON COLUMN mirror_history.{table}._valid_from IS
    'when syncer saw this version (the time of the transaction that wrote it to the mirror)';
COMMENT ON COLUMN mirror_history.{table}._valid_to IS
    'when syncer saw the key''s next version (its _valid_from); NULL: the current version';
COMMENT ON COLUMN mirror_history.{table}._operation IS
    'insert (first seen), update, delete (soft-deleted in the mirror), undelete (back after a delete)';
COMMENT ON COLUMN mirror_history.{table}._data IS
    'the record as the vendor sent it (a delete: its last content)';
COMMENT ON COLUMN mirror_history.{table}._hash IS 'the content hash, as _hash in the mirror table';
COMMENT ON COLUMN mirror_history.{table}._source_updated_at IS
    'the vendor''s own updated-at of this version, where the vendor has one';
COMMENT ON COLUMN mirror_history.{table}._run_id IS 'the run that saw this version';

-- name: lock_for_history
-- no write to the mirror table between the check of its triggers and their (un)installing,
-- while reads go on (SHARE ROW EXCLUSIVE: what CREATE TRIGGER takes anyway)
LOCK TABLE mirror.{table} IN SHARE ROW EXCLUSIVE MODE;

-- name: history_triggers
-- $1 the mirror table's qualified name: how many of the two history triggers it has
SELECT pg_catalog.count(*) FROM pg_catalog.pg_trigger
WHERE tgrelid = pg_catalog.to_regclass($1)
  AND tgname IN ('syncer_history_inserted', 'syncer_history_updated');

-- name: install_history_triggers
DROP TRIGGER IF EXISTS syncer_history_inserted ON mirror.{table};
DROP TRIGGER IF EXISTS syncer_history_updated ON mirror.{table};
CREATE TRIGGER syncer_history_inserted AFTER INSERT ON mirror.{table}
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION syncer.history_inserted();
CREATE TRIGGER syncer_history_updated AFTER UPDATE ON mirror.{table}
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION syncer.history_updated();

-- name: drop_history_triggers
DROP TRIGGER IF EXISTS syncer_history_inserted ON mirror.{table};
DROP TRIGGER IF EXISTS syncer_history_updated ON mirror.{table};

-- name: history_close_stale
-- Catching up (history turned on, or on again after a while off): the open version of each key
-- whose mirror row differs from it (other hash, or deleted state) ends when the mirror row last
-- changed (its _deleted_at, else its _synced_at), never before it began.
-- Returns how many it closed.
WITH closed AS (
    UPDATE mirror_history.{table} h
    SET _valid_to = GREATEST(h._valid_from, COALESCE(m._deleted_at, m._synced_at))
    FROM mirror.{table} m
    WHERE h._pk = m._pk AND h._valid_to IS NULL
      AND ((h._operation = 'delete') <> (m._deleted_at IS NOT NULL)
           OR (m._deleted_at IS NULL AND h._hash <> m._hash))
    RETURNING 1
)
SELECT pg_catalog.count(*) FROM closed;

-- name: history_open_missing
-- Catching up, then: every mirror row without an open version gets one, valid from when the
-- mirror row last changed (not before the key's last version ended), its operation told by the
-- key's last version: none (insert, or delete for a row already deleted), deleted (undelete),
-- live (update, or delete). Returns how many it opened.
WITH opened AS (
    INSERT INTO mirror_history.{table}
        (_pk, _valid_from, _operation, _data, _hash, _source_updated_at, _run_id)
    SELECT m._pk,
           GREATEST(COALESCE(m._deleted_at, m._synced_at), last._valid_to),
           CASE WHEN m._deleted_at IS NOT NULL THEN 'delete'
                WHEN last._operation IS NULL THEN 'insert'
                WHEN last._operation = 'delete' THEN 'undelete'
                ELSE 'update' END,
           m._data, m._hash, m._source_updated_at, m._run_id
    FROM mirror.{table} m
    LEFT JOIN LATERAL (
        SELECT h._operation, h._valid_to FROM mirror_history.{table} h
        WHERE h._pk = m._pk ORDER BY h._valid_from DESC, h._valid_to DESC NULLS FIRST LIMIT 1
    ) last ON true
    WHERE last._operation IS NULL OR last._valid_to IS NOT NULL
    RETURNING 1
)
SELECT pg_catalog.count(*) FROM opened;

-- name: recall_page
-- $1 stream_id, $2 digest, $3 position: the page with that body (same), else the hashes of one
-- remembered at the same position (what the mirror likely holds for this page), or no row
SELECT digest = $2 AS same, CASE WHEN digest = $2 THEN keys::text END AS keys, hashes,
       CASE WHEN digest = $2 THEN page END AS page
FROM syncer.page_memo
WHERE stream_id = $1 AND (digest = $2 OR position = $3)
ORDER BY digest = $2 DESC LIMIT 1;

-- name: prune_pages
-- $1 stream_id, $2 digests a full pass saw: the stream's other remembered pages go
DELETE FROM syncer.page_memo WHERE stream_id = $1 AND digest <> ALL($2::bytea[]);
