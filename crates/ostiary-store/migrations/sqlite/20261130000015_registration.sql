-- Dynamic client registration (RFC 7591, RFC 7592). Initial access tokens are issued by an
-- operator and found by their SHA-256; each allows `max_uses` registrations until
-- `expires_at`. A client that registered itself has the SHA-256 of its registration access
-- token here; operator-registered clients have no row, so they cannot be managed through
-- the registration endpoint.
CREATE TABLE registration_tokens (
    token_id   TEXT    NOT NULL PRIMARY KEY,
    token_hash BLOB    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    max_uses   INTEGER NOT NULL CHECK (max_uses > 0),
    uses       INTEGER NOT NULL DEFAULT 0 CHECK (uses >= 0 AND uses <= max_uses)
) STRICT;

CREATE INDEX registration_tokens_expires_at ON registration_tokens (expires_at);

CREATE TABLE client_registrations (
    client_id         TEXT NOT NULL PRIMARY KEY
        REFERENCES clients (client_id) ON DELETE CASCADE,
    access_token_hash BLOB NOT NULL
) STRICT;
