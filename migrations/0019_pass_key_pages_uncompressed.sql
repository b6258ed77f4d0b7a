-- A page's keys are stored out of line uncompressed (issue 15): compressing a page's 1,000 keys
-- cost about 0.8 ms of the merge's server time, on every page of every full pass (the same
-- measure as syncer.page_memo's, migration 0018); the rows live only until their pass ends.
ALTER TABLE syncer.pass_key_pages ALTER COLUMN keys SET STORAGE EXTERNAL;
