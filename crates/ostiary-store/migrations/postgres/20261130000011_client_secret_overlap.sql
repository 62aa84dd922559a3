-- A rotated client secret kept for an overlap (`client rotate-secret --keep-old`): its hash
-- and when it stops working (Unix seconds), both set or both empty.
ALTER TABLE clients ADD COLUMN previous_secret_hash BYTEA;
ALTER TABLE clients ADD COLUMN previous_secret_expires_at BIGINT;
ALTER TABLE clients ADD CONSTRAINT clients_previous_secret_whole
    CHECK ((previous_secret_hash IS NULL) = (previous_secret_expires_at IS NULL));
