-- Signing keys (private parts sealed with AES-256-GCM under the root secret) and revoked
-- access tokens (kept only until the token would have expired).

CREATE TABLE signing_keys (
    kid                TEXT    NOT NULL PRIMARY KEY,
    alg                TEXT    NOT NULL,
    state              TEXT    NOT NULL CHECK (state IN ('active', 'retired', 'revoked')),
    sealed_private_key BLOB    NOT NULL,
    public_jwk         TEXT    NOT NULL,
    created_at         INTEGER NOT NULL,
    retired_at         INTEGER,
    publish_until      INTEGER,
    revoked_at         INTEGER
) STRICT;

-- At most one active key per algorithm, even when instances rotate concurrently.
CREATE UNIQUE INDEX signing_keys_one_active_per_alg ON signing_keys (alg) WHERE state = 'active';

CREATE TABLE revoked_access_tokens (
    jti        TEXT    NOT NULL PRIMARY KEY,
    client_id  TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX revoked_access_tokens_expiry ON revoked_access_tokens (expires_at);
