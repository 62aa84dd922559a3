-- A rotation names its successor (`successor_hash`) instead of clearing the grace-period
-- answers of the rest of the family (RFC 9700 4.14.2): a rotated token's answer holds only
-- while its successor is unused, which the read of a presented token sees by joining the
-- successor. The rotation is then one conditional UPDATE and one INSERT.
ALTER TABLE refresh_tokens ADD COLUMN successor_hash BYTEA;

-- An answer left by a rotation that named no successor (one before this migration) is
-- never given again: the read finds no unused successor for it.

DROP INDEX refresh_tokens_answered;
