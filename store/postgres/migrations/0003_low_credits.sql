-- The credits.low threshold of a workspace (SPEC §9): an event is written
-- when a charge takes the balance below it; 0 is off.
ALTER TABLE workspaces ADD COLUMN low_credits bigint NOT NULL DEFAULT 0 CHECK (low_credits >= 0);
