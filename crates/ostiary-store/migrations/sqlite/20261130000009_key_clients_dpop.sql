-- no-transaction
-- Key-based clients and DPoP (RFC 7523, RFC 9449):
-- * clients gain their public keys (`jwks` as JSON, or `jwks_uri`) and
--   `dpop_bound_access_tokens`; the CHECK tying the secret to the method now reads "a secret
--   exactly for the secret methods", so `private_key_jwt` clients hold none. SQLite cannot
--   change a CHECK in place: the table is rebuilt as its documentation prescribes, with
--   foreign keys off so the tables referencing `clients` are neither cascaded nor rewritten.
-- * codes and grants keep the DPoP key they are bound to;
-- * `used_jtis` remembers one-time values (assertion and proof `jti`s) until they expire.
PRAGMA foreign_keys = OFF;

BEGIN;

CREATE TABLE clients_rebuilt (
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
    id_token_alg               TEXT    NOT NULL DEFAULT 'RS256',
    jwks                       TEXT,
    jwks_uri                   TEXT,
    dpop_bound_access_tokens   INTEGER NOT NULL DEFAULT 0
        CHECK (dpop_bound_access_tokens IN (0, 1)),
    CHECK ((token_endpoint_auth_method IN ('client_secret_basic', 'client_secret_post'))
           = (secret_hash IS NOT NULL)),
    CHECK (jwks IS NULL OR jwks_uri IS NULL)
) STRICT;

INSERT INTO clients_rebuilt (
    client_id, name, secret_hash, token_endpoint_auth_method, grant_types, redirect_uris,
    scopes, audiences, introspect_audiences, post_logout_redirect_uris, skip_consent,
    access_token_lifetime_secs, created_at, id_token_alg)
SELECT client_id, name, secret_hash, token_endpoint_auth_method, grant_types, redirect_uris,
    scopes, audiences, introspect_audiences, post_logout_redirect_uris, skip_consent,
    access_token_lifetime_secs, created_at, id_token_alg
FROM clients;

DROP TABLE clients;
ALTER TABLE clients_rebuilt RENAME TO clients;

ALTER TABLE authorization_codes ADD COLUMN dpop_jkt TEXT;
ALTER TABLE grants ADD COLUMN dpop_jkt TEXT;

CREATE TABLE used_jtis (
    key_hash   BLOB    NOT NULL PRIMARY KEY,
    expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX used_jtis_expires_at ON used_jtis (expires_at);

COMMIT;

PRAGMA foreign_keys = ON;
