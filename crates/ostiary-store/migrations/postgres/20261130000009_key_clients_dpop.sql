-- Key-based clients and DPoP (RFC 7523, RFC 9449):
-- * clients gain their public keys (`jwks` as JSON, or `jwks_uri`) and
--   `dpop_bound_access_tokens`; a secret is kept exactly for the secret methods, so
--   `private_key_jwt` clients hold none;
-- * codes and grants keep the DPoP key they are bound to;
-- * `used_jtis` remembers one-time values (assertion and proof `jti`s) until they expire.
ALTER TABLE clients DROP CONSTRAINT clients_check;
ALTER TABLE clients ADD CONSTRAINT clients_secret_for_secret_methods
    CHECK ((token_endpoint_auth_method IN ('client_secret_basic', 'client_secret_post'))
           = (secret_hash IS NOT NULL));
ALTER TABLE clients ADD COLUMN jwks TEXT;
ALTER TABLE clients ADD COLUMN jwks_uri TEXT;
ALTER TABLE clients ADD CONSTRAINT clients_one_key_source CHECK (jwks IS NULL OR jwks_uri IS NULL);
ALTER TABLE clients ADD COLUMN dpop_bound_access_tokens BOOLEAN NOT NULL DEFAULT FALSE;

ALTER TABLE authorization_codes ADD COLUMN dpop_jkt TEXT;
ALTER TABLE grants ADD COLUMN dpop_jkt TEXT;

CREATE TABLE used_jtis (
    key_hash   BYTEA  NOT NULL PRIMARY KEY,
    expires_at BIGINT NOT NULL
);

CREATE INDEX used_jtis_expires_at ON used_jtis (expires_at);
