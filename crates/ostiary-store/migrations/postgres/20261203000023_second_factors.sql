-- Second factors: one TOTP key per user (RFC 6238), sealed by core under the root secret with
-- the user id as context. Sessions say whether their login gave one.
CREATE TABLE user_totp (
    user_id       TEXT   NOT NULL PRIMARY KEY REFERENCES users (user_id) ON DELETE CASCADE,
    sealed_secret BYTEA  NOT NULL,
    -- The time step of the last code accepted: only a later step's code counts.
    last_step     BIGINT NOT NULL,
    created_at    BIGINT NOT NULL
);

ALTER TABLE sessions ADD COLUMN mfa BOOLEAN NOT NULL DEFAULT FALSE;
-- What a login with a second factor issued carries it on, for the ID tokens' `amr`.
ALTER TABLE authorization_codes ADD COLUMN mfa BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE grants ADD COLUMN mfa BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE device_authorizations ADD COLUMN mfa BOOLEAN NOT NULL DEFAULT FALSE;

-- Clients whose users must give a second factor (`--require-mfa`).
ALTER TABLE clients ADD COLUMN require_mfa BOOLEAN NOT NULL DEFAULT FALSE;
