-- Spreading accounts between replicas (SPEC §12): every replica whose
-- sender leases registers itself here, and renews its row in each lease
-- round (expires_at: the end of its leases). The replicas whose row has
-- not expired are the live ones, among which the accounts with work are
-- shared: a replica claims at most its fair share, and releases its
-- surplus (replicas.go). A clean stop deletes the row; a dead replica's
-- row expires with its leases and is dropped later.

CREATE TABLE replicas (
    name       text PRIMARY KEY,
    started_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);

-- The WhatsApp Web link page across replicas: while an account is being
-- linked, the replica holding its session writes the current QR code or
-- pairing code here, with its expiry, so the link page polled on any
-- replica shows it. A secret of the moment: deleted when linking ends, and
-- never read once expired. No foreign key: the row is short-lived and
-- deleted with the linking.

CREATE TABLE link_codes (
    workspace_id text NOT NULL,
    phone        text NOT NULL,
    replica      text NOT NULL,
    qr           text NOT NULL DEFAULT '',
    code         text NOT NULL DEFAULT '',
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, phone)
);
