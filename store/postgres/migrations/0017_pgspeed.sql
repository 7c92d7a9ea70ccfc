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

-- The attempt log as a ring of wagate.AttemptLimit (100) slots per
-- workspace: attempt n of a workspace (1, 2, …; workspaces.attempts_made
-- counts them) takes slot n mod 100, overwriting attempt n - 100. An
-- insert of each attempt and a delete of what fell out of the ring (whose
-- search walked the ring's 100 rows, per workspace and commit: most of
-- the server's work for a batch spread over many workspaces) become one
-- upsert of a row whose key does not change. n orders the log. The
-- attempts kept today are numbered in their order, the newest last.
ALTER TABLE workspaces ADD COLUMN attempts_made bigint NOT NULL DEFAULT 0;
ALTER TABLE attempts ADD COLUMN n bigint, ADD COLUMN slot integer;
DELETE FROM attempts a WHERE (SELECT count(*) FROM attempts b WHERE b.workspace_id = a.workspace_id AND b.seq > a.seq) >= 100;
UPDATE attempts a SET n = r.n, slot = r.n % 100
    FROM (SELECT workspace_id, seq, row_number() OVER (PARTITION BY workspace_id ORDER BY seq) AS n FROM attempts) r
    WHERE a.workspace_id = r.workspace_id AND a.seq = r.seq;
UPDATE workspaces w SET attempts_made = r.n FROM (SELECT workspace_id, max(n) AS n FROM attempts GROUP BY workspace_id) r WHERE w.id = r.workspace_id;
ALTER TABLE attempts DROP CONSTRAINT attempts_pkey;
ALTER TABLE attempts DROP COLUMN seq;
ALTER TABLE attempts ALTER COLUMN n SET NOT NULL, ALTER COLUMN slot SET NOT NULL, ADD PRIMARY KEY (workspace_id, slot);
-- Room on each page for a slot's next version beside the old one, so the
-- upsert stays a heap-only update (no index entry) more often.
ALTER TABLE attempts SET (fillfactor = 50);
