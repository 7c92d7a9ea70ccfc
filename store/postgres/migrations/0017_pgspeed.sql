-- The speed of accepts (SPEC §7, §12; BENCHMARKS.md 1b): less work for the
-- server per accepted message.
--
-- No foreign keys from the tables an accept writes to workspaces: each
-- row's key checked a trigger query against workspaces, although every
-- writer of these rows locks or reads its workspace's row first in the same
-- transaction, and workspaces are never deleted. `wagate check` reports a
-- row whose workspace is missing (audit.go).
ALTER TABLE messages DROP CONSTRAINT messages_workspace_id_fkey;
ALTER TABLE attempts DROP CONSTRAINT attempts_workspace_id_fkey;
ALTER TABLE idempotency DROP CONSTRAINT idempotency_workspace_id_fkey;

-- Fewer indexes for each new message to join. seq's own unique index
-- served nothing (every query of seq names the workspace: messages_workspace
-- orders and pages a workspace's messages, and the sequence keeps seq
-- unique). A status list used messages_workspace_status, which every
-- accepted message joined; now the sending, sent and failed lists use an
-- index a message joins only when it leaves the queue (the send writes
-- that index entry instead of the accept), and the queued list reads
-- messages_workspace newest first (the newest messages are the queued
-- ones while there is a queue) or messages_queue and sorts (a short
-- queue): the planner picks by the share of queued messages
-- (pageMessages names the status in its SQL for that).
ALTER TABLE messages DROP CONSTRAINT messages_seq_key;
DROP INDEX messages_workspace_status;
CREATE INDEX messages_workspace_done ON messages (workspace_id, status, seq) WHERE status <> 'queued';
