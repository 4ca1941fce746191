-- Immediate prorated upgrades (runbook §4.2, SPEC §1.4, §6).
SET datestyle = ISO, YMD;
SET timezone = 'America/Sao_Paulo';
-- Change ids appear in messages: make them independent of earlier files.
SELECT setval('seats.change_id_seq', 1000) AS change_ids_from;
SELECT code FROM seats.create_plan('up', 30.00);
SELECT code FROM seats.create_plan('up-sec', 49.90, 'BRL', 'monthly', 'second');
SELECT code FROM seats.create_plan('up-jpy', 1000, 'JPY', 'quarterly');
-- Anchored on 31 Jan: the cycles of late 2026 are [31 Oct, 30 Nov), [30 Nov, 31 Dec).
SELECT org, cycle_anchor FROM seats.onboard('u1', 'up', 2, '2026-01-31');
CREATE TABLE up_members (id int PRIMARY KEY, org_id text, role text, active boolean);
SELECT seats.attach('up_members');
INSERT INTO up_members VALUES (1, 'u1', 'broker', true), (2, 'u1', 'broker', true);
SELECT try($$INSERT INTO up_members VALUES (3, 'u1', 'broker', true)$$);

-- The quote (nothing written) equals what the upgrade charges. The cycle
-- containing 10 Nov is [31 Oct, 30 Nov): 30 days, 10 Nov counts, 20 remain.
SELECT * FROM seats.quote_upgrade('u1', 5, '2026-11-10 15:00-03');
SELECT count(*) AS changes_after_quote FROM seats.change WHERE org = 'u1' AND kind = 'upgrade';
SELECT id, kind, status, from_limit, to_limit, plan, seat_price, currency, granularity,
       units_remaining, units_in_cycle, cycle_start, cycle_end, amount, requested_at, applied_at, effective_at,
       request_key, requested_by = session_user AS by_me
  FROM seats.upgrade('u1', 5, 'crm-123', '2026-11-10 15:00-03');
-- The new seats work at once.
INSERT INTO up_members VALUES (3, 'u1', 'broker', true);
SELECT org, seat_limit, seats_used FROM seats.usage WHERE org = 'u1';
SELECT kind, detail->>'amount' AS amount, detail->>'units_remaining' AS remaining, at FROM seats.event
 WHERE org = 'u1' AND kind = 'upgrade_applied';

-- Idempotency: the same key and terms return the same change, charged once;
-- the same key with other terms is refused, naming the earlier change.
SELECT id, amount FROM seats.upgrade('u1', 5, 'crm-123', '2026-11-20 15:00-03');
SELECT count(*) AS upgrades, sum(amount) AS charged FROM seats.change WHERE org = 'u1' AND kind = 'upgrade';
SELECT try($$SELECT seats.upgrade('u1', 6, 'crm-123')$$);
SELECT try($$SELECT seats.request_upgrade('u1', 7, 'crm-123')$$);

-- A second upgrade in the same cycle is prorated from its own moment.
SELECT from_limit, to_limit, units_remaining, units_in_cycle, amount
  FROM seats.upgrade('u1', 6, NULL, '2026-11-25 23:59-03');
-- At the last local day of the cycle one day remains.
SELECT * FROM seats.quote_upgrade('u1', 7, '2026-11-29 12:00-03');
-- Late in the UTC day it is still the previous local day in São Paulo:
-- 30 Nov 01:30 UTC is 29 Nov 22:30 local, the cycle's last day.
SELECT * FROM seats.quote_upgrade('u1', 7, '2026-11-30 01:30+00');
SELECT * FROM seats.quote_upgrade('u1', 7, '2026-11-30 03:00+00');

-- Not above the current limit, a frozen org, no subscription, bad input.
SELECT try($$SELECT seats.upgrade('u1', 6)$$);
SELECT try($$SELECT seats.upgrade('u1', 3)$$);
SELECT try($$SELECT seats.quote_upgrade('u1', 6)$$);
SELECT try($$SELECT seats.upgrade('nobody', 6)$$);
SELECT try($$SELECT seats.upgrade('u1', -1)$$);
SELECT try($$SELECT seats.upgrade('u1', NULL)$$);
SELECT try($$SELECT seats.upgrade(NULL, 9)$$);
SELECT try($$SELECT seats.upgrade('u1', 9, NULL, NULL)$$);
SELECT try($$SELECT seats.upgrade('u1', 9, NULL, 'infinity')$$);
UPDATE seats.subscription SET frozen = true, frozen_reason = 'P0 incident 7' WHERE org = 'u1';
SELECT try($$SELECT seats.upgrade('u1', 9)$$);
UPDATE seats.subscription SET frozen = false, frozen_reason = NULL WHERE org = 'u1';
SELECT seat_limit FROM seats.subscription WHERE org = 'u1';

-- An upgrade supersedes a pending downgrade.
INSERT INTO seats.change (org, kind, from_limit, to_limit, status, requested_at, effective_at)
VALUES ('u1', 'downgrade', 6, 4, 'scheduled', now(), '2026-11-30 00:00-03');
SELECT org, pending_downgrade_limit FROM seats.usage WHERE org = 'u1';
SELECT to_limit FROM seats.upgrade('u1', 7, NULL, '2026-11-26 10:00-03');
SELECT kind, to_limit, status FROM seats.change WHERE org = 'u1' AND kind = 'downgrade';
SELECT org, pending_downgrade_limit FROM seats.usage WHERE org = 'u1';

-- Requested upgrades wait for manual execution, then are priced when applied.
SELECT id AS requested_id, status, from_limit, to_limit, amount IS NULL AS no_amount_yet
  FROM seats.request_upgrade('u1', 9, 'ticket-9') \gset
SELECT :'status' AS status, :from_limit AS from_limit, :to_limit AS to_limit, :'no_amount_yet' AS no_amount_yet;
SELECT seat_limit FROM seats.subscription WHERE org = 'u1';
SELECT status, from_limit, to_limit, units_remaining, units_in_cycle, amount
  FROM seats.apply_change(:requested_id, '2026-11-28 09:00-03');
SELECT try(format('SELECT seats.apply_change(%s)', :requested_id));
SELECT id = :requested_id AS same_change, status FROM seats.request_upgrade('u1', 9, 'ticket-9');
SELECT try($$SELECT seats.apply_change(999999)$$);
SELECT try($$SELECT seats.apply_change(NULL)$$);
-- A request overtaken by a bigger upgrade can no longer raise the limit.
SELECT id AS stale_id FROM seats.request_upgrade('u1', 10) \gset
SELECT to_limit FROM seats.upgrade('u1', 12, NULL, '2026-11-28 10:00-03');
SELECT try(format('SELECT seats.apply_change(%s)', :stale_id));
-- An empty or blank request key is no key at all: refused (an ORM sending
-- '' for "none" would otherwise make every later '' a reused key, SB004).
SELECT try($$SELECT seats.upgrade('u1', 13, '')$$);
SELECT try($$SELECT seats.request_upgrade('u1', 13, ' ')$$);
SELECT try($$SELECT seats.schedule_downgrade('u1', 2, '')$$);
SELECT count(*) AS blank_keys FROM seats.change WHERE btrim(request_key) = '';

-- Second granularity, other currencies, and the calendar's clamping.
SELECT org FROM seats.onboard('u2', 'up-sec', 1, '2026-01-01');
SELECT * FROM seats.quote_upgrade('u2', 4, '2026-11-16 00:00-03');
SELECT org, cycle_start, cycle_end FROM seats.onboard('u3', 'up-jpy', 1, '2099-11-30', 'Asia/Tokyo');
SELECT * FROM seats.quote_upgrade('u3', 2, '2099-12-01 12:00+09');

-- seats.prorate, the exposed calculation.
SELECT seats.prorate(1, 8.00, '2026-11-01 00:00-03', '2026-12-01 00:00-03', '2026-11-11 10:00-03') AS twenty_of_thirty;
SELECT seats.prorate(1, 0.05, '2026-11-01 00:00-03', '2026-11-03 00:00-03', '2026-11-02 00:00-03') AS tie_rounds_up;
SELECT seats.prorate(3, 49.90, '2026-11-01 00:00-03', '2026-12-01 00:00-03', '2026-11-16 00:00-03', 'second') AS half_in_seconds;
SELECT seats.prorate(2147483647, 999999999.99, '2026-11-01 00:00-03', '2026-12-01 00:00-03', '2026-11-01 00:00-03') AS no_overflow;
-- America/Santiago has no 00:00 on 2026-09-06 (nor on 2099-09-06): a cycle
-- turning that day starts at the first instant of the local day, 01:00 -03.
SELECT seats._local_midnight('2026-09-06', 'America/Santiago') AS santiago_2026_09_06;
SELECT org, cycle_start, cycle_end FROM seats.onboard('cl', 'up', 1, '2099-09-06', 'America/Santiago');
SELECT seats.prorate(1, 30, cycle_start, cycle_end, cycle_start, 'day', time_zone) AS full_first_day
  FROM seats.subscription WHERE org = 'cl';
SELECT try($$SELECT seats.prorate(1, 8, '2026-11-01', '2026-12-01', '2026-12-01')$$);
SELECT try($$SELECT seats.prorate(1, 8, '2026-12-01', '2026-11-01', '2026-11-15')$$);
-- Day proration counts local dates: a half-hour cycle has no day, and an
-- `at` inside the instants can fall on cycle_end's local date.
SELECT try($$SELECT seats.prorate(1, 10, '2030-01-01 00:00-03', '2030-01-01 00:30-03', '2030-01-01 00:10-03')$$);
SELECT try($$SELECT seats.prorate(1, 10, '2030-01-01 00:00 UTC', '2030-02-01 00:00 UTC', '2030-01-31 23:30 UTC',
                                  'day', 'Pacific/Kiritimati')$$);
SELECT try($$SELECT seats.prorate(1, 8, '2026-11-01', '2026-12-01', '2026-11-15', 'hour')$$);
SELECT try($$SELECT seats.prorate(1, 8, '2026-11-01', '2026-12-01', '2026-11-15', 'day', 'Mars/Base')$$);
SELECT try($$SELECT seats.prorate(1, 8, '2026-11-01', '2026-12-01', '2026-11-15', 'day', 'UTC', 'XYZ')$$);
SELECT try($$SELECT seats.prorate(1, -8, '2026-11-01', '2026-12-01', '2026-11-15')$$);
SELECT try($$SELECT seats.prorate(1, 8.1234567, '2026-11-01', '2026-12-01', '2026-11-15')$$);
SELECT try($$SELECT seats.prorate(1, 'NaN', '2026-11-01', '2026-12-01', '2026-11-15')$$);
SELECT try($$SELECT seats.prorate(NULL, 8, '2026-11-01', '2026-12-01', '2026-11-15')$$);
SELECT try($$SELECT seats.prorate(1, 8, '2026-11-01', 'infinity', '2026-11-15')$$);

-- Many rows in one query: the per-query caches (price, zone, cycle, last
-- amount) must give the same sums as one call per row would.
SELECT sum(seats.prorate(3, 49.90, '2026-11-01 00:00-03', '2026-12-01 00:00-03',
                         '2026-11-01 00:00-03'::timestamptz + g * interval '7 hours')) AS day_sum,
       sum(seats.prorate(3, 49.90, '2026-11-01 00:00-03', '2026-12-01 00:00-03',
                         '2026-11-01 00:00-03'::timestamptz + g * interval '7 hours', 'second')) AS second_sum,
       sum(round(3 * 49.90 * ('2026-12-01'::date - (('2026-11-01 00:00-03'::timestamptz + g * interval '7 hours')
                 AT TIME ZONE 'America/Sao_Paulo')::date) / 30.0, 2)) AS same_in_sql
  FROM generate_series(0, 100) g;
-- Each argument changing between rows is seen.
SELECT p, z, c, seats.prorate(1, p, '2026-11-01 00:00-03', '2026-12-01 00:00-03', '2026-11-16 01:30+00', 'day', z, c)
  FROM (VALUES (1, 10.00, 'UTC', 'BRL'), (2, 10.00, 'America/Sao_Paulo', 'BRL'), (3, 20.00, 'America/Sao_Paulo', 'BRL'),
               (4, 20.00, 'America/Sao_Paulo', 'JPY'), (5, 10.00, 'UTC', 'BRL')) v(n, p, z, c)
 ORDER BY n;
