-- A change of the root secret keeps each key's sealing from before it until the change is
-- finished (`previous_sealed_private_key`), so a mistyped new secret that re-sealed the keys
-- cannot lock the correctly configured instances out. Empty: no change in progress.
ALTER TABLE signing_keys ADD COLUMN previous_sealed_private_key BYTEA NOT NULL DEFAULT '\x';
