-- What a full pass's pages decoded to, by the digest of their body (issue 15): a page whose
-- body is byte for byte one decoded before (an unchanged page of a nightly re-sync) is not
-- decoded again. Its keys and content hashes come from here and are compared with the mirror's
-- live rows inside the page's merge, as any page's are; a row that differs sends the page
-- through the decoder after all. A page whose body changed is decoded knowing the hashes of
-- the page remembered at its position: its records with one of them come back without their
-- text (the same check applies). A cache, nothing more: UNLOGGED (no WAL; after a Postgres
-- crash it comes back empty and pages are decoded again), and a full pass read from its first
-- page prunes the pages it did not see.
CREATE UNLOGGED TABLE syncer.page_memo (
    stream_id bigint NOT NULL REFERENCES syncer.streams (stream_id) ON DELETE CASCADE,
    -- blake2b-128 of the decoder's settings and the body
    digest    bytea NOT NULL,
    -- the page's keys, a JSON array, in the page's order (jsonb: a merge's keys parameter
    -- is one already, so storing it converts nothing)
    keys      jsonb NOT NULL,
    -- their content hashes, 16 bytes each, in the same order
    hashes    bytea NOT NULL,
    -- the rest of the decoded page (paging, counts, fields), a JSON object
    page      text NOT NULL,
    -- where the page was read from: its number, or the vendor's cursor (JSON)
    position  text NOT NULL,
    PRIMARY KEY (stream_id, digest)
);
CREATE INDEX page_memo_position ON syncer.page_memo (stream_id, position);
-- stored out of line uncompressed: compressing 1,000 keys cost 0.8 ms of the 1.3 ms a row's
-- insert took (measured on PostgreSQL 16, 300 rows of 1,000 Exto keys: 0.44 ms with this)
ALTER TABLE syncer.page_memo
    ALTER COLUMN keys SET STORAGE EXTERNAL,
    ALTER COLUMN hashes SET STORAGE EXTERNAL,
    ALTER COLUMN page SET STORAGE EXTERNAL;
