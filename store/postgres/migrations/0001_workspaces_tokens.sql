-- Workspaces and admin tokens: the first tables of the PostgreSQL backend
-- (issue 15). Times are timestamptz (microseconds); token hashes and the
-- inbound token's hash are SHA-256 digests as bytea.

CREATE TABLE workspaces (
    id                 text PRIMARY KEY,
    -- seq orders workspaces by creation, as ListWorkspaces returns them.
    seq                bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    name               text NOT NULL,
    balance            bigint NOT NULL CHECK (balance >= 0),
    granted            bigint NOT NULL,
    inbound_token      text NOT NULL,
    -- The inbound URL is looked up by the hash of its token, then the
    -- stored token is compared in constant time.
    inbound_hash       bytea NOT NULL UNIQUE,
    inbound_enabled    boolean NOT NULL,
    inbound_created_at timestamptz NOT NULL,
    created_at         timestamptz NOT NULL
);

CREATE TABLE tokens (
    hash         bytea PRIMARY KEY CHECK (length(hash) = 32),
    id           text NOT NULL,
    -- NULL for the operator token, which belongs to no workspace.
    workspace_id text REFERENCES workspaces (id),
    role         text NOT NULL CHECK (role IN ('operator', 'owner', 'support')),
    name         text NOT NULL DEFAULT '',
    prefix       text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz,
    CHECK ((role = 'operator') = (workspace_id IS NULL))
);

-- A workspace's tokens by id, for lists, revocations and the limit count.
CREATE UNIQUE INDEX tokens_workspace_id ON tokens (workspace_id, id) WHERE workspace_id IS NOT NULL;

-- One operator token per instance, whichever replica stored it.
CREATE UNIQUE INDEX tokens_one_operator ON tokens ((role)) WHERE role = 'operator';
