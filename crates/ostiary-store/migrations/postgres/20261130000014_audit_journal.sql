-- How far each server's audit journal segment (a local file of events written before their
-- responses leave, copied here in batches) has been copied, moved in the same transaction as
-- the copied events: a replay after a crash starts exactly where the copy stopped.
CREATE TABLE audit_journal (
    segment TEXT PRIMARY KEY,
    copied BIGINT NOT NULL
);
