-- Audit rows arrive in time order and are never updated, so a BRIN index (a few pages per
-- million rows) serves `audit list --since` as well as a B-tree would, at a fraction of the
-- cost of every insert: each token issued writes one audit row.

DROP INDEX audit_events_at;
CREATE INDEX audit_events_at ON audit_events USING brin (at);
