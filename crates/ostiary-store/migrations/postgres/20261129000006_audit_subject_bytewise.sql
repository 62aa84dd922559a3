-- Audit subjects are identifiers, only ever compared for equality. Byte order ("C") gives
-- the same answers as the database's linguistic collation and cuts the database's work per
-- audit row by about a fifth (string comparisons in the index on subject): every token
-- issued writes one.

ALTER TABLE audit_events ALTER COLUMN subject TYPE TEXT COLLATE "C";
