-- A rotation's sealed answer (RFC 9700 4.14.2: what a retry inside the grace period gets
-- again) moves from the rotated token's row to its successor's, written once with the
-- successor's insert. On the rotated row it was an update that wrote a new version of a row
-- of about 150 bytes with the answer's 1.5 KB added; the update now sets two small columns
-- that no index covers. The presented token's read joins its successor already, to tell
-- whether the successor was used; it now takes the answer from there too.
ALTER TABLE refresh_tokens ADD COLUMN issuing_answer BYTEA;

UPDATE refresh_tokens AS s SET issuing_answer = r.rotation_answer
FROM refresh_tokens AS r
WHERE r.successor_hash = s.token_hash AND r.rotation_answer IS NOT NULL;

-- As for migration 21: stop every instance, migrate, then start the new ones. An earlier
-- version's rotation fails here on the missing column rather than writing an answer that
-- nothing reads.
ALTER TABLE refresh_tokens DROP COLUMN rotation_answer;
