-- A rotation clears the grace-period answers of the rest of its family (RFC 9700 4.14.2).
-- Through the grant_id index that statement read every token the family ever had, rotated
-- ones included, so a refresh cost grew with the family's age (252 rows read per refresh in
-- the bench). Only the few tokens that hold an answer are indexed here.
CREATE INDEX refresh_tokens_answered ON refresh_tokens (grant_id)
    WHERE rotation_answer IS NOT NULL;
