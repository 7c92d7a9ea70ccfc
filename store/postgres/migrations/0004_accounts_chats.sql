-- Accounts and chats (SPEC §4). An account is keyed by its workspace and
-- phone; its transport settings (which may hold secrets) and its
-- careful-sending rules are JSON objects. Chats are numbered per workspace
-- from 1 by the workspace's chat_seq, which is also the workspace's number
-- of chats (chats are never deleted), so the --max-chats check on the
-- accept path does not count rows.

ALTER TABLE workspaces ADD COLUMN chat_seq bigint NOT NULL DEFAULT 0 CHECK (chat_seq >= 0);

CREATE TABLE accounts (
    workspace_id text NOT NULL REFERENCES workspaces (id),
    phone        text NOT NULL,
    transport    text NOT NULL,
    settings     jsonb NOT NULL DEFAULT '{}',
    active       boolean NOT NULL,
    connected_at timestamptz NOT NULL,
    rules        jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (workspace_id, phone)
);

-- A chat keeps its account's phone after the account is deleted, so its id
-- keeps resolving (to a clear error): no foreign key to accounts.
CREATE TABLE chats (
    workspace_id  text NOT NULL REFERENCES workspaces (id),
    id            bigint NOT NULL CHECK (id > 0),
    account_phone text NOT NULL,
    jid           text NOT NULL,
    name          text NOT NULL DEFAULT '',
    is_group      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, id),
    UNIQUE (workspace_id, account_phone, jid)
);

-- The inbound chat_name lookup and name-filtered pages.
CREATE INDEX chats_name ON chats (workspace_id, name, id);
