-- How far each server's audit journal segment (a local file of events written before their
-- responses leave, copied here in batches) has been copied, moved in the same transaction as
-- the copied events: a replay after a crash starts exactly where the copy stopped.
CREATE TABLE audit_journal (
    segment TEXT PRIMARY KEY,
    copied BIGINT NOT NULL
);

-- The database's own identity, which names the journal segments meant for it: an instance
-- replays only segments of its database, whatever URL it reaches it by. One row, made by
-- the first server to ask (nothing is seeded here).
CREATE TABLE audit_journal_database (
    only_row INTEGER PRIMARY KEY CHECK (only_row = 1),
    id TEXT NOT NULL
);
