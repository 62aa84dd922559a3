-- Device authorizations (RFC 8628): found by the SHA-256 of the device code (the device's
-- polls) or of the user code in its normal form (the verification page). `status` moves from
-- pending to approved or denied once, and from approved to redeemed once; the approving user
-- and login session are kept with the approval.
CREATE TABLE device_authorizations (
    device_code_hash BLOB    NOT NULL PRIMARY KEY,
    user_code_hash   BLOB    NOT NULL UNIQUE,
    client_id        TEXT    NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    scopes           TEXT    NOT NULL,
    resources        TEXT    NOT NULL,
    expires_at       INTEGER NOT NULL,
    interval_secs    INTEGER NOT NULL,
    last_polled_at   INTEGER,
    status           TEXT    NOT NULL
        CHECK (status IN ('pending', 'approved', 'denied', 'redeemed')),
    user_id          TEXT    REFERENCES users (user_id) ON DELETE CASCADE,
    sid              TEXT,
    auth_time        INTEGER
) STRICT;

CREATE INDEX device_authorizations_expires_at ON device_authorizations (expires_at);
CREATE INDEX device_authorizations_sid ON device_authorizations (sid);
CREATE INDEX device_authorizations_client_id ON device_authorizations (client_id);
