-- Linking and unlinking a WhatsApp Web account through any replica (SPEC
-- §10, §12): the account's session runs only on the replica holding its
-- lease, so a replica that does not hold it and gets POST or DELETE
-- …/link writes the request here and notifies; the holder runs it as a
-- local request, stores its outcome (done, and the refusal's code and
-- message when it refused), and the requesting replica reads the outcome
-- and deletes the row. No secret here: a pairing code or QR code goes
-- through link_codes only. Rows left by a replica that died waiting are
-- dropped by later requests.

CREATE TABLE link_requests (
    id            bigserial PRIMARY KEY,
    workspace_id  text NOT NULL,
    phone         text NOT NULL,
    action        text NOT NULL CHECK (action IN ('qr', 'code', 'unlink')),
    requested_by  text NOT NULL,
    holder        text NOT NULL,
    requested_at  timestamptz NOT NULL,
    taken_at      timestamptz,
    done          boolean NOT NULL DEFAULT false,
    error_code    text NOT NULL DEFAULT '',
    error_message text NOT NULL DEFAULT ''
);

CREATE INDEX link_requests_account ON link_requests (workspace_id, phone);
