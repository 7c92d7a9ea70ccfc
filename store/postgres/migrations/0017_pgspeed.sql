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
