-- Second factors: one TOTP key per user (RFC 6238), sealed by core under the root secret with
-- the user id as context. Sessions say whether their login gave one.
CREATE TABLE user_totp (
    user_id       TEXT    NOT NULL PRIMARY KEY REFERENCES users (user_id) ON DELETE CASCADE,
    sealed_secret BLOB    NOT NULL,
    -- The time step of the last code accepted: only a later step's code counts.
    last_step     INTEGER NOT NULL,
    created_at    INTEGER NOT NULL
) STRICT;

ALTER TABLE sessions ADD COLUMN mfa INTEGER NOT NULL DEFAULT 0 CHECK (mfa IN (0, 1));
-- What a login with a second factor issued carries it on, for the ID tokens' `amr`.
ALTER TABLE authorization_codes ADD COLUMN mfa INTEGER NOT NULL DEFAULT 0 CHECK (mfa IN (0, 1));
ALTER TABLE grants ADD COLUMN mfa INTEGER NOT NULL DEFAULT 0 CHECK (mfa IN (0, 1));
ALTER TABLE device_authorizations ADD COLUMN mfa INTEGER NOT NULL DEFAULT 0 CHECK (mfa IN (0, 1));

-- Clients whose users must give a second factor (`--require-mfa`).
ALTER TABLE clients ADD COLUMN require_mfa INTEGER NOT NULL DEFAULT 0 CHECK (require_mfa IN (0, 1));
