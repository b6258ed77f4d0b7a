-- Typed views complete, and the fields an analyst must not see (issue 14, part "typed").
--
-- A timestamp the vendor writes without an offset (Actito's `YYYY-MM-DD HH:MM:SS` moments,
-- XtraKit's Laravel stamps) is read in the vendor's time zone (the connection's `time_zone`
-- option, UTC by default), never in the session's: an analyst's TimeZone setting must not move
-- the instants; a stamp with an offset keeps its own. Every timestamptz column of a typed view
-- reads its values through it. A value that does not parse is NULL, like syncer.try_timestamptz.
CREATE FUNCTION syncer.try_timestamptz_in(value text, zone text) RETURNS timestamptz
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- a stamp that carries its offset after its time (Z, +02, -05:30) says its own instant
    IF value ~ '[0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]+)?)?\s*([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)\s*$' THEN
        RETURN value::timestamptz;
    END IF;
    RETURN pg_catalog.timezone(zone, value::timestamp);
EXCEPTION WHEN others THEN
    RETURN NULL;
END $$;

-- Each stream's `exclude` and `hash` lists as of its last run: a run that starts with other
-- lists records the difference in syncer.schema_changes (excluded, included, hashed, unhashed)
-- and brings the stored rows in line first. `key_check` tells a new hash key from the old one
-- without keeping either: the keyed hash of a fixed text (syncer.redact.KEY_CHECK).
CREATE TABLE syncer.stream_redaction (
    stream_id  bigint PRIMARY KEY REFERENCES syncer.streams,
    exclude    text[] NOT NULL DEFAULT '{}',
    hashed     text[] NOT NULL DEFAULT '{}',
    key_check  text,
    changed_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);

-- Mirrors synced before this migration recorded such timestamps as plain strings, which keeps
-- their columns `text`. A field whose every stored value is a timestamp without an offset loses
-- its `string` kind here: the next page that holds it records it anew (`local_timestamp`), and
-- the view is rebuilt with the column typed timestamptz (a type change the run reports).
-- Fields inside a {name, value} list are stored with the path ['<list>[<name>].<value>', name].
CREATE FUNCTION syncer.reclassify_local_timestamps() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    f record;
    expr text;
    parts text[];
    sample text;
    others bigint;
    changed integer := 0;
    pattern constant text :=
        '^[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]+)?)?$';
BEGIN
    FOR f IN
        SELECT sf.stream_id, sf.path, s.table_name
        FROM syncer.stream_fields sf JOIN syncer.streams s USING (stream_id)
        WHERE sf.json_type = 'string'
          AND pg_catalog.to_regclass(pg_catalog.format('mirror.%I', s.table_name)) IS NOT NULL
    LOOP
        parts := pg_catalog.regexp_match(f.path[1], '^(\w+)\[(\w+)\]\.(\w+)$');
        IF parts IS NOT NULL AND pg_catalog.array_length(f.path, 1) = 2 THEN
            expr := pg_catalog.format(
                'pg_catalog.jsonb_path_query_first(_data, %L::jsonpath, '
                'pg_catalog.jsonb_build_object(''n'', %L::text))',
                pg_catalog.format('$.%s[*] ? (@.%s == $n).%s', parts[1], parts[2], parts[3]),
                f.path[2]);
        ELSE
            expr := pg_catalog.format('(_data #> %L::text[])', f.path);
        END IF;
        -- one string value first (cheap), then the whole table only for likely fields
        EXECUTE pg_catalog.format(
            'SELECT %1$s #>> ''{}'' FROM mirror.%2$I '
            'WHERE pg_catalog.jsonb_typeof(%1$s) = ''string'' LIMIT 1', expr, f.table_name)
            INTO sample;
        CONTINUE WHEN sample IS NULL OR sample !~ pattern;
        EXECUTE pg_catalog.format(
            'SELECT pg_catalog.count(*) FROM mirror.%2$I '
            'WHERE pg_catalog.jsonb_typeof(%1$s) = ''string'' AND (%1$s #>> ''{}'') !~ %3$L',
            expr, f.table_name, pattern)
            INTO others;
        CONTINUE WHEN others > 0;
        DELETE FROM syncer.stream_fields
        WHERE stream_id = f.stream_id AND path = f.path AND json_type = 'string';
        changed := changed + 1;
    END LOOP;
    RETURN changed;
END $$;

SELECT syncer.reclassify_local_timestamps();
