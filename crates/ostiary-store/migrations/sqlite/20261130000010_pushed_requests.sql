-- Pushed authorization requests (RFC 9126): found by the SHA-256 of their request_uri's
-- random part, taken once by the client that pushed them. `params` is JSON only core reads.
-- Clients may be required to push (`require_pushed_authorization_requests`).
CREATE TABLE pushed_requests (
    id_hash    BLOB    NOT NULL PRIMARY KEY,
    client_id  TEXT    NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    params     TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX pushed_requests_expires_at ON pushed_requests (expires_at);
CREATE INDEX pushed_requests_client_id ON pushed_requests (client_id);

ALTER TABLE clients ADD COLUMN require_pushed_authorization_requests INTEGER NOT NULL DEFAULT 0
    CHECK (require_pushed_authorization_requests IN (0, 1));
