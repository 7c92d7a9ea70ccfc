-- The send queue (sender.Queue) and careful sending (SPEC §2), the twin of
-- store/queue.go and store/schedule.go.
--
-- An account's queue is its queued messages in queue_pos order. queue_pos
-- is the message's place, drawn from messages_queue_pos when it is placed:
-- at accept, or, for a scheduled message (send_at after the accept), when
-- a hold or a retry moves it into the queue. NULL means not placed yet: a
-- queued message with send_at and no queue_pos waits for its due time and
-- joins the queue by it (Next). The place is kept while the message is
-- sending, so a retry puts it back where it was, ahead of the messages
-- accepted after it.
CREATE SEQUENCE messages_queue_pos AS bigint;

ALTER TABLE messages
    ADD COLUMN queue_pos   bigint,
    -- When the sender took the message (MarkSending), for the record of an
    -- interrupted send.
    ADD COLUMN sending_at  timestamptz,
    -- The transport's id of the sent try, for delivery reports.
    ADD COLUMN provider_id text;

-- Messages stored before this migration keep their order: their place is
-- their acceptance order, and new places come after them.
UPDATE messages SET queue_pos = seq WHERE status IN ('queued', 'sending') AND send_at IS NULL;
SELECT setval('messages_queue_pos', coalesce((SELECT max(seq) FROM messages), 0) + 1, false);

-- An account's queue in order (the scheduled messages, not placed yet,
-- sort last). It replaces messages_queued, which was in acceptance order.
DROP INDEX messages_queued;
CREATE INDEX messages_queue ON messages (workspace_id, account_phone, queue_pos) WHERE status = 'queued';
-- An account's scheduled messages by due time (store/'s schedule index).
CREATE INDEX messages_scheduled ON messages (workspace_id, account_phone, send_at, id COLLATE "C")
    WHERE status = 'queued' AND queue_pos IS NULL;
-- The queued messages that wait for a time (a retry or a rule's hold): a
-- few per account at most, and what holds back the later messages to
-- their recipient.
CREATE INDEX messages_waiting ON messages (workspace_id, account_phone, jid, queue_pos)
    WHERE status = 'queued' AND next_try_at IS NOT NULL;
-- The messages held by a careful-sending rule, for the waiting gauge.
CREATE INDEX messages_held ON messages (waiting_reason) WHERE status = 'queued' AND waiting_reason <> '';
-- The messages in sending (store/'s sending index): what a stop caught.
CREATE INDEX messages_sending ON messages (id COLLATE "C") WHERE status = 'sending';
-- Delivery reports name the message by the transport's id.
CREATE INDEX messages_provider_id ON messages (provider_id) WHERE provider_id IS NOT NULL;

-- The sends of each account in the last 24 h (MarkSent prunes older ones)
-- and its first send ever: what the daily limit and the warm-up count.
-- Both outlive the account, as in store/: a phone deleted and connected
-- again does not start its warm-up over.
CREATE TABLE sends (
    workspace_id  text NOT NULL REFERENCES workspaces (id),
    account_phone text NOT NULL,
    at            timestamptz NOT NULL,
    message_id    text NOT NULL,
    PRIMARY KEY (workspace_id, account_phone, at, message_id)
);

CREATE TABLE first_sends (
    workspace_id  text NOT NULL REFERENCES workspaces (id),
    account_phone text NOT NULL,
    at            timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, account_phone)
);

-- A batch's results (POST …/batch), kept in its Idempotency-Key's record
-- (message_id 'batch'), so they expire and are pruned with it. NULL for
-- the key of a single request.
ALTER TABLE idempotency ADD COLUMN batch jsonb;
