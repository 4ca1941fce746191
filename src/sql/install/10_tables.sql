------------------------------------------------------------------------------
-- Tables
------------------------------------------------------------------------------

CREATE TABLE seats.plan (
    code            text PRIMARY KEY CHECK (code <> ''),
    name            text NOT NULL,
    seat_price      numeric NOT NULL CHECK (seat_price >= 0),
    currency        char(3) NOT NULL,
    billing_period  text NOT NULL
                    CHECK (billing_period IN ('monthly', 'quarterly', 'semiannual', 'annual')),
    proration       text NOT NULL DEFAULT 'day' CHECK (proration IN ('day', 'second')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE seats.plan IS 'Plan catalog: price per seat, currency, billing period, proration granularity';

CREATE TABLE seats.subscription (
    org             text PRIMARY KEY CHECK (org <> ''),
    plan            text NOT NULL REFERENCES seats.plan (code),
    seat_limit      integer NOT NULL CHECK (seat_limit >= 0),
    -- Maintained by the member triggers under the org lock. No CHECK >= 0:
    -- a drifted counter must never block a DELETE; seats.revalidate() and the
    -- counter_drift alert repair and report drift instead.
    seats_used      integer NOT NULL DEFAULT 0,
    cycle_anchor    date NOT NULL,
    cycle_start     timestamptz NOT NULL,
    cycle_end       timestamptz NOT NULL CHECK (cycle_end > cycle_start),
    time_zone       text NOT NULL,
    frozen          boolean NOT NULL DEFAULT false,
    frozen_reason   text,
    frozen_incident bigint,
    -- Block episode: opened at the org's first SB001, closed at its next
    -- seat acquisition or upgrade (SPEC §5). The episode's blocks are
    -- counted from the seat_blocked events when it closes (the recorder
    -- writes this row once per episode); block_episode_blocks stays 0 while
    -- it is open, last_block_at is the last block of the last closed one.
    block_episode_started_at timestamptz,
    block_episode_blocks     integer NOT NULL DEFAULT 0,
    last_block_at   timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    -- Set, in the same row version, by the seat acquisition or upgrade that
    -- ends an open episode; the block recorder then writes its
    -- block_episode_closed event and clears the episode.
    block_episode_resolved_at timestamptz,
    -- The customer's language for SB001 and seats.customer_message (NULL:
    -- follow broker_seats.language). Per organization, so that an app
    -- behind a transaction-pooling proxy needs no session state.
    language        text CHECK (language IN ('pt_BR', 'en')),
    frozen_by       text,
    frozen_at       timestamptz
);
CREATE INDEX subscription_resolved_episode ON seats.subscription (block_episode_resolved_at);
COMMENT ON TABLE seats.subscription IS 'One row per organization: plan, seat limit, maintained seats_used counter, current cycle';

-- Per-organization tables lead their keys with the org (so that they can
-- be distributed by it, colocated with the members); ids come from one
-- sequence and are shown to users, but no key relies on them alone.
CREATE TABLE seats.change (
    id              bigserial NOT NULL,
    org             text NOT NULL REFERENCES seats.subscription (org),
    kind            text NOT NULL CHECK (kind IN ('onboard', 'upgrade', 'downgrade', 'revert')),
    from_limit      integer,
    to_limit        integer NOT NULL CHECK (to_limit >= 0),
    status          text NOT NULL CHECK (status IN ('requested', 'applied', 'scheduled', 'blocked', 'held',
                                                    'superseded', 'cancelled', 'reverted')),
    requested_at    timestamptz NOT NULL,
    requested_by    text NOT NULL DEFAULT session_user,
    applied_at      timestamptz,
    effective_at    timestamptz,
    request_key     text,
    -- Proration inputs and result, kept with the change (SPEC §1.4).
    plan            text,
    seat_price      numeric,
    currency        char(3),
    granularity     text CHECK (granularity IN ('day', 'second')),
    units_remaining integer,
    units_in_cycle  integer,
    cycle_start     timestamptz,
    cycle_end       timestamptz,
    amount          numeric,
    reverts         bigint,
    incident        bigint,
    reason          text,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- A downgrade's active brokers above its new limit when it was scheduled
    -- (0 when they fit): the NOTICE's number, as a column drivers keep.
    brokers_over_new_limit integer,
    PRIMARY KEY (org, id),
    UNIQUE (org, request_key),
    FOREIGN KEY (org, reverts) REFERENCES seats.change (org, id)
);
CREATE INDEX change_org_status ON seats.change (org, status);
CREATE INDEX change_id ON seats.change (id);
COMMENT ON TABLE seats.change IS 'Every commercial change (onboard, upgrade, downgrade, revert) with its calculation';

-- The global chain (attachments, plans, global freezes) has the org key ''.
CREATE TABLE seats.event (
    id              bigserial NOT NULL,
    org             text NOT NULL,
    kind            text NOT NULL,
    at              timestamptz NOT NULL DEFAULT now(),
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor           text NOT NULL DEFAULT session_user,
    change_id       bigint,
    detail          jsonb NOT NULL DEFAULT '{}',
    prev_hash       bytea,
    hash            bytea NOT NULL,
    PRIMARY KEY (org, id)
);
CREATE INDEX event_kind_at ON seats.event (kind, at);
COMMENT ON TABLE seats.event IS 'Append-only audit trail, hash-chained per organization (org '''''': the global chain)';

CREATE TABLE seats.incident (
    id              bigserial PRIMARY KEY,
    severity        text NOT NULL CHECK (severity IN ('P0', 'P1', 'P2')),
    org             text,
    impact          text NOT NULL,
    opened_at       timestamptz NOT NULL DEFAULT now(),
    opened_by       text NOT NULL DEFAULT session_user,
    closed_at       timestamptz,
    postmortem      text,
    closed_by       text
);
COMMENT ON TABLE seats.incident IS 'Incidents of runbook §6';

CREATE TABLE seats.attachment (
    relid           regclass PRIMARY KEY,
    org_column      name NOT NULL,
    role_column     name NOT NULL,
    active_column   name NOT NULL,
    active_kind     text NOT NULL CHECK (active_kind IN ('boolean', 'timestamp')),
    seat_roles      text[] NOT NULL,
    attached_at     timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE seats.attachment IS 'Member tables under enforcement and their column mapping';

-- One row per (org, closed cycle): the turnover's exactly-once key. A
-- re-run, a second runner or a run after a crash finds the row (or the
-- subscription already moved on) and changes nothing twice.
CREATE TABLE seats.turnover (
    org             text NOT NULL REFERENCES seats.subscription (org),
    cycle_start     timestamptz NOT NULL,
    cycle_end       timestamptz NOT NULL,
    as_of           timestamptz NOT NULL,
    turned_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    downgrade       bigint,
    outcome         text CHECK (outcome IN ('applied', 'blocked', 'held')),
    PRIMARY KEY (org, cycle_end),
    FOREIGN KEY (org, downgrade) REFERENCES seats.change (org, id)
);
COMMENT ON TABLE seats.turnover IS 'Every cycle turnover, once per (org, cycle), with the downgrade outcome';

-- The global freeze (runbook §6): a row while the whole system is frozen.
CREATE TABLE seats.global_freeze (
    singleton       boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    reason          text NOT NULL,
    incident        bigint REFERENCES seats.incident (id),
    frozen_at       timestamptz NOT NULL DEFAULT now(),
    frozen_by       text NOT NULL DEFAULT session_user
);

-- The turnover takes due orgs in (cycle_end, org) order, a batch at a time:
-- with the org in the key, each batch reads its own entries only (on
-- cycle_end alone, every batch re-sorted all orgs due at the same instant).
CREATE INDEX subscription_cycle_end ON seats.subscription (cycle_end, org);

-- Alert thresholds changed from their defaults (seats.set_setting audits
-- each change; seats.settings shows every setting with its default). Only
-- changes are rows, so a dump restores them over a fresh CREATE EXTENSION.
CREATE TABLE seats.setting (
    name            text PRIMARY KEY,
    value           text NOT NULL,
    changed_at      timestamptz NOT NULL DEFAULT now(),
    changed_by      text NOT NULL DEFAULT session_user
);
COMMENT ON TABLE seats.setting IS 'Alert and checklist thresholds changed from their defaults (see seats.settings)';

-- Alerts already announced on NOTIFY seats_alerts, so each is sent once:
-- a block spike once per (org, day), a turnover failure once per (org,
-- cycle). The org '' stands for all organizations.
CREATE TABLE seats.alert_sent (
    kind            text NOT NULL,
    org             text NOT NULL,
    key             text NOT NULL,
    sent_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (kind, org, key)
);
COMMENT ON TABLE seats.alert_sent IS 'Alerts announced on NOTIFY seats_alerts (each once)';

SELECT pg_catalog.pg_extension_config_dump('seats.plan', '');
SELECT pg_catalog.pg_extension_config_dump('seats.turnover', '');
SELECT pg_catalog.pg_extension_config_dump('seats.global_freeze', '');
SELECT pg_catalog.pg_extension_config_dump('seats.subscription', '');
SELECT pg_catalog.pg_extension_config_dump('seats.change', '');
SELECT pg_catalog.pg_extension_config_dump('seats.change_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('seats.event', '');
SELECT pg_catalog.pg_extension_config_dump('seats.event_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('seats.incident', '');
SELECT pg_catalog.pg_extension_config_dump('seats.incident_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('seats.attachment', '');
SELECT pg_catalog.pg_extension_config_dump('seats.setting', '');
SELECT pg_catalog.pg_extension_config_dump('seats.alert_sent', '');

