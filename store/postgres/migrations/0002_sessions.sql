-- Console sessions (SPEC §6), stored by the SHA-256 of their id; the id
-- itself is never stored. A session belongs to the token it was signed in
-- with: deleting the token (a revoke, a rotated operator token) ends its
-- sessions in the same transaction, by the cascade.

CREATE TABLE sessions (
    key          bytea PRIMARY KEY CHECK (length(key) = 32),
    token_hash   bytea NOT NULL REFERENCES tokens (hash) ON DELETE CASCADE,
    workspace_id text NOT NULL DEFAULT '',
    role         text NOT NULL,
    csrf         text NOT NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);

-- A token's sessions, oldest first: a sign-in ends those beyond the limit.
CREATE INDEX sessions_token ON sessions (token_hash, created_at);

-- For the sweep of expired sessions.
CREATE INDEX sessions_expiry ON sessions (expires_at);
