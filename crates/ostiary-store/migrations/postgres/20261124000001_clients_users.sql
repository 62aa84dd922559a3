-- Clients and users. Nothing is inserted here, ever: no default credentials.
-- Lists are JSON arrays of strings; times are Unix seconds (UTC).

CREATE TABLE clients (
    client_id                  TEXT    NOT NULL PRIMARY KEY,
    name                       TEXT    NOT NULL,
    secret_hash                BYTEA,
    token_endpoint_auth_method TEXT    NOT NULL,
    grant_types                TEXT    NOT NULL,
    redirect_uris              TEXT    NOT NULL,
    scopes                     TEXT    NOT NULL,
    audiences                  TEXT    NOT NULL,
    introspect_audiences       TEXT    NOT NULL,
    post_logout_redirect_uris  TEXT    NOT NULL,
    skip_consent               BOOLEAN NOT NULL,
    access_token_lifetime_secs BIGINT,
    created_at                 BIGINT  NOT NULL,
    CHECK ((token_endpoint_auth_method = 'none') = (secret_hash IS NULL))
);

CREATE TABLE users (
    user_id       TEXT    NOT NULL PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,
    email         TEXT,
    password_hash TEXT    NOT NULL,
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    BIGINT  NOT NULL
);
