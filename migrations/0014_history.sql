-- History (type-2) of the streams with `history = true` (issue 14): every version of every key
-- in mirror_history.<the mirror table's name>, written by two statement-level triggers on the
-- mirror table, in the transaction of the statement that changed it, whatever the path (a page
-- merge, a soft delete after a complete pass, `syncer deletes confirm`, the mirror following a
-- push). syncer installs the triggers when a run starts with history on and drops them when
-- it starts with history off (syncer/mirror/history.py); these are the functions they call.
--
-- A version is valid from the time syncer saw the change (the transaction's time, now()) until
-- the next version's; the current one has _valid_to NULL. Only keys that changed get a row:
-- the merge leaves rows equal to the mirror untouched, so they fire nothing, and an UPDATE that
-- changed neither the hash nor the deleted state (none does today) is skipped here.
-- The functions find the history table by the mirror table's name (the same name in schema
-- mirror_history), and read the statement's transition tables (new_rows, old_rows).

-- rows the statement inserted: each key's first version
CREATE FUNCTION syncer.history_inserted() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM new_rows) THEN
        RETURN NULL;
    END IF;
    EXECUTE pg_catalog.format($q$
        INSERT INTO mirror_history.%I
            (_pk, _valid_from, _operation, _data, _hash, _source_updated_at, _run_id)
        SELECT n._pk, pg_catalog.now(),
               CASE WHEN n._deleted_at IS NULL THEN 'insert' ELSE 'delete' END,
               n._data, n._hash, n._source_updated_at, n._run_id
        FROM new_rows n
    $q$, TG_TABLE_NAME);
    RETURN NULL;
END
$fn$;

-- rows the statement updated: a new version for each key whose hash or deleted state changed.
-- The keys are gathered once; the open versions are closed first, in their own statement, so
-- the one-open-version index never sees two, each found by an index probe (= ANY).
CREATE FUNCTION syncer.history_updated() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    changed text[];
BEGIN
    SELECT pg_catalog.array_agg(n._pk) INTO changed
    FROM old_rows o JOIN new_rows n ON n._pk = o._pk
    WHERE (o._deleted_at IS NULL) <> (n._deleted_at IS NULL)
       OR (n._deleted_at IS NULL AND o._hash <> n._hash);
    IF changed IS NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE pg_catalog.format($q$
        UPDATE mirror_history.%I SET _valid_to = pg_catalog.now()
        WHERE _pk = ANY ($1) AND _valid_to IS NULL
    $q$, TG_TABLE_NAME) USING changed;
    EXECUTE pg_catalog.format($q$
        INSERT INTO mirror_history.%I
            (_pk, _valid_from, _operation, _data, _hash, _source_updated_at, _run_id)
        SELECT n._pk, pg_catalog.now(),
               CASE WHEN o._deleted_at IS NULL AND n._deleted_at IS NOT NULL THEN 'delete'
                    WHEN o._deleted_at IS NOT NULL AND n._deleted_at IS NULL THEN 'undelete'
                    ELSE 'update' END,
               n._data, n._hash, n._source_updated_at, n._run_id
        FROM old_rows o JOIN new_rows n ON n._pk = o._pk
        WHERE (o._deleted_at IS NULL) <> (n._deleted_at IS NULL)
           OR (n._deleted_at IS NULL AND o._hash <> n._hash)
    $q$, TG_TABLE_NAME);
    RETURN NULL;
END
$fn$;
