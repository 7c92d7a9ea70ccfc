-- Templates (SPEC §11), the provider templates synced per account and the
-- customers' 24-hour windows (SPEC §8), the link state of whatsapp
-- accounts (SPEC §10), and retention's counter of spent credits (serve
-- --retain). WhatsApp Web device keys are not here: sender/whatsapp keeps
-- them in a schema of their own of the same database (whatsmeow's tables
-- and migrations are the library's).

-- A whatsapp account's link state as the account object shows it
-- (linkRecord); NULL for an account that never had one.
ALTER TABLE accounts ADD COLUMN link jsonb;

-- Credits of sent messages that retention deleted: spent credits that an
-- audit of granted == balance + held must still count.
ALTER TABLE workspaces ADD COLUMN pruned_credits bigint NOT NULL DEFAULT 0 CHECK (pruned_credits >= 0);

-- A workspace's templates, listed by name. cloudapi is the mapping to a
-- provider template (templateCloudAPIRecord), NULL when it has none.
CREATE TABLE templates (
    workspace_id text NOT NULL REFERENCES workspaces (id),
    name         text NOT NULL,
    text         text NOT NULL,
    file_url     text NOT NULL DEFAULT '',
    file_name    text NOT NULL DEFAULT '',
    cloudapi     jsonb,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, name)
);

-- What the last sync read of an account's provider templates
-- ([]providerTemplateRecord). It goes with its account: a list of an
-- earlier account of the same phone (another WABA, perhaps) must never be
-- taken for the new one's.
CREATE TABLE account_templates (
    workspace_id text NOT NULL,
    phone        text NOT NULL,
    templates    jsonb NOT NULL,
    synced_at    timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, phone),
    FOREIGN KEY (workspace_id, phone) REFERENCES accounts (workspace_id, phone) ON DELETE CASCADE
);

-- When each customer last wrote to a sending number, as the provider names
-- both: shared by every workspace that connected the number, as WhatsApp
-- keeps one window per conversation.
CREATE TABLE chat_windows (
    transport text NOT NULL,
    sender    text NOT NULL,
    customer  text NOT NULL,
    last_at   timestamptz NOT NULL,
    PRIMARY KEY (transport, sender, customer)
);
