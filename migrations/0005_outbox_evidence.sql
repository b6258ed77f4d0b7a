-- Writes that are not idempotent (Exto sub-table appends, XtraKit adds) record, before a row is
-- first sent, what lets a later push tell whether the vendor applied it (the parent's rows
-- before the append, the time of the add). A row that has evidence is read back before any
-- resend.
ALTER TABLE syncer.outbox ADD COLUMN evidence jsonb;
