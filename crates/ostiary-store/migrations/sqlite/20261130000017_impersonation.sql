-- Token exchange (RFC 8693): a client registered for impersonation gets exchanged tokens that
-- name the subject alone (no `act`); every other client's exchanges are delegation.
ALTER TABLE clients ADD COLUMN impersonation INTEGER NOT NULL DEFAULT 0
    CHECK (impersonation IN (0, 1));
