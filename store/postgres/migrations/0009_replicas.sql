-- Replicas (SPEC §12): each account is sent by one replica at a time, the
-- holder of its lease row. A claim takes a free or expired lease and adds
-- one to its epoch; the holder renews every lease it holds in one
-- statement; a clean stop frees them (owner '') so another replica takes
-- over at once. The writes of a send (MarkSending, and the outcome of a
-- sending message) check owner and epoch in their transaction, so a
-- replica whose lease moved cannot write.
--
-- last_send_at and gap_ns are the account's pace, written with every
-- MarkSending: when the last send started and the gap drawn after it, so
-- the replica that takes the account over waits out the same gap.
--
-- No foreign key to accounts: a deleted account's sending message is still
-- finished by its lease holder, and the lease outlives the account row.

CREATE TABLE account_leases (
    workspace_id text NOT NULL REFERENCES workspaces (id),
    phone        text NOT NULL,
    owner        text NOT NULL DEFAULT '',
    epoch        bigint NOT NULL DEFAULT 0 CHECK (epoch >= 0),
    expires_at   timestamptz,
    last_send_at timestamptz,
    gap_ns       bigint NOT NULL DEFAULT 0 CHECK (gap_ns >= 0),
    PRIMARY KEY (workspace_id, phone)
);

-- Renewal and release find a replica's leases by owner.
CREATE INDEX account_leases_owner ON account_leases (owner) WHERE owner <> '';

-- A claim looks for accounts with a message caught in sending (a replica
-- died mid-send) as well as queued ones; sending messages are few, so this
-- index stays small.
CREATE INDEX messages_sending_account ON messages (workspace_id, account_phone) WHERE status = 'sending';
