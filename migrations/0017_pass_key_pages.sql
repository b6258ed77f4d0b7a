-- A full pass's keys, one row per merged page (the page's keys as one JSON array) instead of one
-- row per key (issue 15): EXPLAIN ANALYZE of an unchanged page's merge put 7 to 20 ms of its
-- 20 ms in inserting 1,000 rows into pass_keys and its (pass_id, key) index; one row of a
-- ~24 KB array costs a fraction of a millisecond. Delete inference unnests a pass's rows once
-- and hash anti-joins the mirror against them. UNLOGGED as before: no WAL; after a Postgres
-- crash the table comes back empty, the pass's keys_written no longer matches their count,
-- and the pass infers no deletes.
CREATE UNLOGGED TABLE syncer.pass_key_pages (
    pass_id bigint NOT NULL,
    keys    jsonb NOT NULL
);
CREATE INDEX pass_key_pages_pass ON syncer.pass_key_pages (pass_id);

-- passes in progress keep the keys they had
INSERT INTO syncer.pass_key_pages (pass_id, keys)
SELECT pass_id, pg_catalog.jsonb_agg(key) FROM syncer.pass_keys GROUP BY pass_id;

DROP TABLE syncer.pass_keys;
