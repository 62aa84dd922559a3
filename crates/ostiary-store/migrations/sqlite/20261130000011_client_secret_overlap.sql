-- A rotated client secret kept for an overlap (`client rotate-secret --keep-old`): its hash
-- and when it stops working (Unix seconds), both set or both empty.
ALTER TABLE clients ADD COLUMN previous_secret_hash BLOB;
ALTER TABLE clients ADD COLUMN previous_secret_expires_at INTEGER;
