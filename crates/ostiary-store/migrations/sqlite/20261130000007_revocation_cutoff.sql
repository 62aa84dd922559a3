-- Incident response and revocation metrics.
--
-- `access_token_cutoff` holds at most one row: every access token issued at or before
-- `issued_before` (Unix seconds, its `iat`) is revoked, whoever it was issued to. One row
-- instead of a row per token, so `tokens revoke-all` also reaches client_credentials tokens,
-- which the server never writes down.
CREATE TABLE access_token_cutoff (
    id            INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    issued_before INTEGER NOT NULL
) STRICT;

-- Running totals of revocations by reason, written in the transaction that revokes, so every
-- process (server instances and the CLI alike) adds to the same figures.
CREATE TABLE revocation_counts (
    reason TEXT    NOT NULL PRIMARY KEY,
    total  INTEGER NOT NULL
) STRICT;
