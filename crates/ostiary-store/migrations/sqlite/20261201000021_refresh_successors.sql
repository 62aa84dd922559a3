-- A rotation names its successor (`successor_hash`) instead of clearing the grace-period
-- answers of the rest of the family (RFC 9700 4.14.2): a rotated token's answer holds only
-- while its successor is unused, which the read of a presented token sees by joining the
-- successor. The rotation is then one conditional UPDATE and one INSERT.
ALTER TABLE refresh_tokens ADD COLUMN successor_hash BLOB;

-- Rotations before this migration cleared every other answer of their family, so a token
-- that still holds an answer was the last rotated, and its successor is the family's one
-- unrotated token. Where that is not exactly one token, the answer names none and is never
-- given again (a retry inside the grace period is then a replay).
UPDATE refresh_tokens SET successor_hash = (
    SELECT s.token_hash FROM refresh_tokens AS s
    WHERE s.grant_id = refresh_tokens.grant_id AND s.rotated_at IS NULL
    AND NOT EXISTS (SELECT 1 FROM refresh_tokens AS t WHERE t.grant_id = s.grant_id
        AND t.rotated_at IS NULL AND t.token_hash <> s.token_hash))
WHERE rotation_answer IS NOT NULL;

-- Not for instances of an earlier version running beside the new ones: they would rotate
-- without naming successors (whose answers the new ones never give), give answers that
-- rotations no longer clear, and on PostgreSQL lock a rotation's rows in the other order.
-- Stop every instance, migrate, then start the new ones.

DROP INDEX refresh_tokens_answered;
