-- Browser interactions in progress (sign-in, consent): found by the SHA-256 of their id,
-- bound to a browser by the SHA-256 of its CSRF cookie, gone when finished or expired.
-- `state` is JSON that only core reads. Times are Unix seconds.
CREATE TABLE interactions (
    id_hash      BLOB    NOT NULL PRIMARY KEY,
    binding_hash BLOB    NOT NULL,
    state        TEXT    NOT NULL,
    expires_at   INTEGER NOT NULL
) STRICT;

CREATE INDEX interactions_expires_at ON interactions (expires_at);
