-- Messages, Idempotency-Key records and the attempt log (SPEC §4, §6).
-- A message row is the whole message; seq orders a workspace's messages by
-- acceptance (lists are newest first). Tries and a provider template are
-- JSON arrays/objects; times the message does not have are NULL.

CREATE TABLE messages (
    id                   text PRIMARY KEY,
    seq                  bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    workspace_id         text NOT NULL REFERENCES workspaces (id),
    status               text NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'failed')),
    account_phone        text NOT NULL,
    -- Which connection of the phone the message was accepted for.
    account_connected_at timestamptz NOT NULL,
    chat_id              bigint NOT NULL,
    jid                  text NOT NULL,
    text                 text NOT NULL DEFAULT '',
    file_url             text NOT NULL DEFAULT '',
    file_name            text NOT NULL DEFAULT '',
    credits              bigint NOT NULL CHECK (credits >= 0),
    error                text NOT NULL DEFAULT '',
    tries                jsonb NOT NULL DEFAULT '[]',
    next_try_at          timestamptz,
    created_at           timestamptz NOT NULL,
    sent_at              timestamptz,
    send_at              timestamptz,
    waiting_reason       text NOT NULL DEFAULT '',
    delivery             text NOT NULL DEFAULT '',
    delivery_at          timestamptz,
    template_name        text NOT NULL DEFAULT '',
    template             jsonb
);

-- A workspace's messages newest first, with or without a status.
CREATE INDEX messages_workspace ON messages (workspace_id, seq);
CREATE INDEX messages_workspace_status ON messages (workspace_id, status, seq);
-- An account's queue, in order.
CREATE INDEX messages_queued ON messages (workspace_id, account_phone, seq) WHERE status = 'queued';

CREATE TABLE idempotency (
    workspace_id text NOT NULL REFERENCES workspaces (id),
    key          text NOT NULL,
    body_hash    bytea NOT NULL CHECK (length(body_hash) = 32),
    message_id   text NOT NULL,
    at           timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, key)
);

-- For the bounded prune of records older than the 24 h window.
CREATE INDEX idempotency_at ON idempotency (at);

-- The last wagate.AttemptLimit calls of each workspace's inbound URL.
CREATE TABLE attempts (
    workspace_id text NOT NULL REFERENCES workspaces (id),
    seq          bigint GENERATED ALWAYS AS IDENTITY,
    at           timestamptz NOT NULL,
    request_id   text NOT NULL DEFAULT '',
    remote_addr  text NOT NULL DEFAULT '',
    content_type text NOT NULL DEFAULT '',
    body         text NOT NULL DEFAULT '',
    code         text NOT NULL DEFAULT '',
    message      text NOT NULL DEFAULT '',
    message_id   text NOT NULL DEFAULT '',
    credits      bigint NOT NULL DEFAULT 0,
    warnings     jsonb NOT NULL DEFAULT '[]',
    PRIMARY KEY (workspace_id, seq)
);
