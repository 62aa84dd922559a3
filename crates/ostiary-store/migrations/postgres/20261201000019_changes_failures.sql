-- Several instances on one database.
--
-- Changes to what instances keep in memory are announced on the channel `ostiary_changes`
-- (LISTEN/NOTIFY), delivered at commit and only if the transaction commits:
--   `client <client_id>`  a client row was inserted, updated or deleted
--   `keys`                the signing keys changed
--   `failures N LAST LOCKED KEY`  a failure counter changed: its failures, its last failure and
--                         the end of its lock (Unix ms, `-` for none); N = 0: forgotten.
--                         Sent by the statements that change a counter, through
--                         `ostiary_notify_failures` (a purge of stale counters announces nothing)
-- Triggers, so every writer announces its changes: each instance, the CLI, a migration.

CREATE FUNCTION ostiary_notify_client() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('ostiary_changes', 'client ' || OLD.client_id);
    ELSE
        PERFORM pg_notify('ostiary_changes', 'client ' || NEW.client_id);
        IF TG_OP = 'UPDATE' AND NEW.client_id <> OLD.client_id THEN
            PERFORM pg_notify('ostiary_changes', 'client ' || OLD.client_id);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER clients_changed AFTER INSERT OR UPDATE OR DELETE ON clients
    FOR EACH ROW EXECUTE FUNCTION ostiary_notify_client();

CREATE FUNCTION ostiary_notify_keys() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ostiary_changes', 'keys');
    RETURN NULL;
END
$$;

-- Per row, so a statement that changes nothing (the housekeeping's erasure of retired keys,
-- every minute on every instance) announces nothing; PostgreSQL sends one `keys` per
-- transaction however many rows it changed.
CREATE TRIGGER signing_keys_changed AFTER INSERT OR UPDATE OR DELETE ON signing_keys
    FOR EACH ROW EXECUTE FUNCTION ostiary_notify_keys();

-- Failed authentications counted across instances (brute-force limits). `key` is the
-- limiter's text (kind, scope, identifier, source address); times are Unix milliseconds.
-- Only failures and the success that follows failures write here.
CREATE TABLE failure_counts (
    key          TEXT    NOT NULL PRIMARY KEY,
    failures     INTEGER NOT NULL,
    last_failure BIGINT  NOT NULL,
    locked_until BIGINT
);

CREATE INDEX failure_counts_last_failure ON failure_counts (last_failure);

CREATE FUNCTION ostiary_notify_failures(key TEXT, failures INTEGER, last_failure BIGINT,
                                        locked_until BIGINT) RETURNS void
LANGUAGE sql AS $$
    SELECT pg_notify('ostiary_changes', 'failures ' || failures || ' ' || last_failure || ' ' ||
                     COALESCE(locked_until::text, '-') || ' ' || key)
$$;
