-- Signing keys (private parts sealed with AES-256-GCM under the root secret) and revoked
-- access tokens (kept only until the token would have expired).

CREATE TABLE signing_keys (
    kid                TEXT   NOT NULL PRIMARY KEY,
    alg                TEXT   NOT NULL,
    state              TEXT   NOT NULL CHECK (state IN ('active', 'retired', 'revoked')),
    sealed_private_key BYTEA  NOT NULL,
    public_jwk         TEXT   NOT NULL,
    created_at         BIGINT NOT NULL,
    retired_at         BIGINT,
    publish_until      BIGINT,
    revoked_at         BIGINT
);

-- At most one active key per algorithm, even when instances rotate concurrently.
CREATE UNIQUE INDEX signing_keys_one_active_per_alg ON signing_keys (alg) WHERE state = 'active';

CREATE TABLE revoked_access_tokens (
    jti        TEXT   NOT NULL PRIMARY KEY,
    client_id  TEXT   NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX revoked_access_tokens_expiry ON revoked_access_tokens (expires_at);
