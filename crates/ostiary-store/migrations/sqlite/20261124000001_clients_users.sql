-- Clients and users. Nothing is inserted here, ever: no default credentials.
-- Lists are JSON arrays of strings; times are Unix seconds (UTC).

CREATE TABLE clients (
    client_id                  TEXT    NOT NULL PRIMARY KEY,
    name                       TEXT    NOT NULL,
    secret_hash                BLOB,
    token_endpoint_auth_method TEXT    NOT NULL,
    grant_types                TEXT    NOT NULL,
    redirect_uris              TEXT    NOT NULL,
    scopes                     TEXT    NOT NULL,
    audiences                  TEXT    NOT NULL,
    introspect_audiences       TEXT    NOT NULL,
    post_logout_redirect_uris  TEXT    NOT NULL,
    skip_consent               INTEGER NOT NULL CHECK (skip_consent IN (0, 1)),
    access_token_lifetime_secs INTEGER,
    created_at                 INTEGER NOT NULL,
    CHECK ((token_endpoint_auth_method = 'none') = (secret_hash IS NULL))
) STRICT;

CREATE TABLE users (
    user_id       TEXT    NOT NULL PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,
    email         TEXT,
    password_hash TEXT    NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at    INTEGER NOT NULL
) STRICT;
