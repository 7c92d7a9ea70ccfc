-- The events outbox (SPEC §9): a workspace's endpoints, what each one
-- subscribes to, and the deliveries of events to them. An event is written
-- in the transaction of the change it reports, inside one pending delivery
-- per enabled, subscribed endpoint whose filter matches (event.go).

-- Endpoints, secrets included: they sign deliveries; the API masks them.
-- seq orders a workspace's endpoints by creation.
CREATE TABLE endpoints (
    workspace_id    text NOT NULL REFERENCES workspaces (id),
    id              text NOT NULL,
    seq             bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    name            text NOT NULL DEFAULT '',
    enabled         boolean NOT NULL,
    url             text NOT NULL,
    path            text NOT NULL DEFAULT '',
    method          text NOT NULL DEFAULT '',
    events          text[] NOT NULL,
    filter_phone    text NOT NULL DEFAULT '',
    filter_source   text NOT NULL DEFAULT '',
    query           jsonb NOT NULL DEFAULT '[]',
    headers         jsonb NOT NULL DEFAULT '[]',
    auth            jsonb NOT NULL DEFAULT '{}',
    body_type       text NOT NULL DEFAULT '',
    body_template   text NOT NULL DEFAULT '',
    body_fields     jsonb NOT NULL DEFAULT '[]',
    created_at      timestamptz NOT NULL,
    disabled_reason text NOT NULL DEFAULT '',
    secret          text NOT NULL,
    previous_secret text NOT NULL DEFAULT '',
    previous_until  timestamptz,
    failing_since   timestamptz,
    PRIMARY KEY (workspace_id, id)
);

-- What the funnel reads to learn who listens to a change: one row per
-- enabled endpoint and event type it subscribes to, with its filter,
-- rewritten with every write of the endpoint. A change reads it by its
-- key (workspace, event type): one index probe, which finds nothing for a
-- workspace without endpoints, so such a workspace writes nothing more.
CREATE TABLE endpoint_subs (
    workspace_id  text NOT NULL,
    event         text NOT NULL,
    endpoint_id   text NOT NULL,
    account_phone text NOT NULL DEFAULT '',
    source        text NOT NULL DEFAULT '',
    PRIMARY KEY (workspace_id, event, endpoint_id),
    FOREIGN KEY (workspace_id, endpoint_id) REFERENCES endpoints (workspace_id, id) ON DELETE CASCADE
);

-- Deliveries: one row per event per endpoint, the event inside it (an
-- event goes to one or two endpoints in practice, so no table of its own
-- and no reference counting). seq orders an endpoint's history and the
-- deliveries due at the same time (the order their events came in).
-- A pending delivery has next_at, when its next attempt is due; the last
-- attempt's request and response stay for the history: method, URL,
-- status and headers as JSON, the bodies (capped) as bytes, since a body
-- may hold what jsonb and text cannot (a NUL byte).
-- lease_owner and lease_expires: the replica making an attempt of it right
-- now (NextDeliveries), so two replicas never deliver it at once.
-- An endpoint keeps every pending delivery and the newest finished ones,
-- up to wagate.DeliveryHistoryLimit in all.
CREATE TABLE deliveries (
    workspace_id  text NOT NULL,
    endpoint_id   text NOT NULL,
    id            text NOT NULL,
    seq           bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    event_id      text NOT NULL DEFAULT '',
    event_type    text NOT NULL DEFAULT '',
    event         jsonb,
    attempt       integer NOT NULL DEFAULT 0,
    status        text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    request       jsonb NOT NULL DEFAULT '{}',
    request_body  bytea NOT NULL DEFAULT '',
    response      jsonb NOT NULL DEFAULT '{}',
    response_body bytea NOT NULL DEFAULT '',
    duration_ns   bigint NOT NULL DEFAULT 0,
    error         text NOT NULL DEFAULT '',
    next_at       timestamptz,
    at            timestamptz NOT NULL,
    lease_owner   text,
    lease_expires timestamptz,
    PRIMARY KEY (workspace_id, endpoint_id, id),
    FOREIGN KEY (workspace_id, endpoint_id) REFERENCES endpoints (workspace_id, id) ON DELETE CASCADE,
    CHECK ((status = 'pending') = (next_at IS NOT NULL))
);

-- An endpoint's history, newest first.
CREATE INDEX deliveries_history ON deliveries (workspace_id, endpoint_id, seq);
-- What is due, in order: the deliverer reads this, never the history.
CREATE INDEX deliveries_due ON deliveries (workspace_id, endpoint_id, next_at, seq) WHERE status = 'pending';
-- The finished deliveries, oldest first, so trimming finds what to drop.
CREATE INDEX deliveries_finished ON deliveries (workspace_id, endpoint_id, seq) WHERE status <> 'pending';
-- The deliveries being made (few), for when another replica's lease ends.
CREATE INDEX deliveries_leased ON deliveries (workspace_id, endpoint_id, lease_expires) WHERE lease_owner IS NOT NULL;
