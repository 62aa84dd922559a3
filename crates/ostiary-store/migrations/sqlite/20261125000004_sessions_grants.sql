-- Login sessions, authorization codes, grants (refresh token families), refresh tokens and
-- consents. Nothing is inserted here, ever. Opaque credentials (session ids, codes, refresh
-- tokens) are kept only as SHA-256 hashes; lists are JSON arrays; times are Unix seconds.

-- RS256 is what OpenID Connect assumes when a client registered nothing.
ALTER TABLE clients ADD COLUMN id_token_alg TEXT NOT NULL DEFAULT 'RS256';

CREATE TABLE sessions (
    id_hash    BLOB    NOT NULL PRIMARY KEY,
    sid        TEXT    NOT NULL UNIQUE,
    user_id    TEXT    NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    auth_time  INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- A code row stays after redemption (consumed_at set) until it expires, so a replay is
-- recognised and can revoke the grant it created.
CREATE TABLE authorization_codes (
    code_hash      BLOB    NOT NULL PRIMARY KEY,
    grant_id       TEXT    NOT NULL UNIQUE,
    client_id      TEXT    NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    user_id        TEXT    NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    sid            TEXT    NOT NULL,
    redirect_uri   TEXT    NOT NULL,
    code_challenge TEXT    NOT NULL,
    nonce          TEXT,
    scopes         TEXT    NOT NULL,
    resources      TEXT    NOT NULL,
    auth_time      INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    consumed_at    INTEGER
) STRICT;

CREATE INDEX authorization_codes_expires_at ON authorization_codes (expires_at);

-- `sid` has no foreign key: offline grants outlive the login session they were made in.
CREATE TABLE grants (
    grant_id          TEXT    NOT NULL PRIMARY KEY,
    client_id         TEXT    NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    user_id           TEXT    NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    sid               TEXT    NOT NULL,
    offline           INTEGER NOT NULL CHECK (offline IN (0, 1)),
    scopes            TEXT    NOT NULL,
    audiences         TEXT    NOT NULL,
    auth_time         INTEGER NOT NULL,
    created_at        INTEGER NOT NULL,
    access_jti        TEXT    NOT NULL,
    access_expires_at INTEGER NOT NULL,
    revoked_at        INTEGER
) STRICT;

CREATE INDEX grants_sid ON grants (sid);
-- Serves both "every grant of a user" and "a user's grants for one client".
CREATE INDEX grants_user_client ON grants (user_id, client_id);
-- Deleting a client cascades here; without an index that is a full scan.
CREATE INDEX grants_client_id ON grants (client_id);

CREATE TABLE refresh_tokens (
    token_hash        BLOB    NOT NULL PRIMARY KEY,
    grant_id          TEXT    NOT NULL REFERENCES grants (grant_id) ON DELETE CASCADE,
    issued_at         INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL,
    access_jti        TEXT    NOT NULL,
    access_expires_at INTEGER NOT NULL,
    rotated_at        INTEGER,
    rotation_answer   BLOB
) STRICT;

CREATE INDEX refresh_tokens_grant_id ON refresh_tokens (grant_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

CREATE TABLE consents (
    user_id    TEXT    NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    client_id  TEXT    NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    scopes     TEXT    NOT NULL,
    granted_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, client_id)
) STRICT;

CREATE INDEX consents_client_id ON consents (client_id);
