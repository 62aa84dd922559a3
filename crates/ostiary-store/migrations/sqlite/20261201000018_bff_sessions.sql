-- The backend-for-frontend's sessions (`ostiary bff`): found by the SHA-256 of the cookie's
-- session id; the tokens are sealed by the BFF. `version` rises with every token update and
-- `refresh_claimed_until` lets one instance at a time present the refresh token.
CREATE TABLE bff_sessions (
    id_hash               BLOB    NOT NULL PRIMARY KEY,
    sub                   TEXT    NOT NULL,
    sid                   TEXT,
    sealed                BLOB    NOT NULL,
    version               INTEGER NOT NULL,
    refresh_claimed_until INTEGER,
    created_at            INTEGER NOT NULL,
    expires_at            INTEGER NOT NULL
) STRICT;

CREATE INDEX bff_sessions_sub ON bff_sessions (sub);
CREATE INDEX bff_sessions_sid ON bff_sessions (sid);
CREATE INDEX bff_sessions_expires_at ON bff_sessions (expires_at);
