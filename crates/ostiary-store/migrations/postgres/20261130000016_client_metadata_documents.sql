-- Client ID metadata documents: a client whose id is the URL of its metadata document has a
-- row here, saying when the stored copy was fetched and until when it is used (Unix
-- seconds); after that it is fetched again. Operator-registered and self-registered clients
-- have no row. The row goes with its client.
CREATE TABLE client_metadata_documents (
    client_id  TEXT   NOT NULL PRIMARY KEY
        REFERENCES clients (client_id) ON DELETE CASCADE,
    fetched_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
