-- The audit trail. Append-only: Ostiary never updates or deletes these rows.

CREATE TABLE audit_events (
    id        INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    at        INTEGER NOT NULL,
    event     TEXT    NOT NULL,
    actor     TEXT    NOT NULL,
    client_id TEXT,
    subject   TEXT,
    source_ip TEXT,
    outcome   TEXT    NOT NULL CHECK (outcome IN ('success', 'failure')),
    reason    TEXT
) STRICT;

CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_subject ON audit_events (subject);
