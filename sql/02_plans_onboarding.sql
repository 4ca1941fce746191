-- Plans and onboarding (runbook §4.1).
SET datestyle = ISO, YMD;
SET timezone = 'America/Sao_Paulo';
SELECT code, name, seat_price, currency, billing_period, proration
  FROM seats.create_plan('pro', 49.90);
SELECT code, seat_price, currency, billing_period, proration
  FROM seats.create_plan('team-usd', 10, 'usd', 'quarterly', 'second', 'Team (USD)');
-- The same plan again is a no-op; a changed one is updated and audited.
SELECT code, seat_price FROM seats.create_plan('pro', 49.90);
SELECT code, seat_price FROM seats.create_plan('pro', 59.90);
SELECT kind, detail->'before'->>'seat_price' AS before, detail->'after'->>'seat_price' AS after
  FROM seats.event WHERE kind = 'plan_changed';

-- Bad arguments name what was wrong.
SELECT try($$SELECT seats.create_plan('x', -1)$$);
SELECT try($$SELECT seats.create_plan('x', 1, 'XYZ')$$);
SELECT try($$SELECT seats.create_plan('x', 1, 'BRL', 'weekly')$$);
SELECT try($$SELECT seats.create_plan('x', 1, 'BRL', 'monthly', 'hour')$$);
SELECT try($$SELECT seats.create_plan(NULL, 1)$$);
SELECT try($$SELECT seats.create_plan('', 1)$$);
SELECT try($$SELECT seats.create_plan('x', NULL)$$);
-- A price the billing core cannot bill is refused when the plan is made,
-- not at the plan's first quote (core::parse_decimal: at most 6 decimal
-- places, at most 10^15 once the point is dropped).
SELECT try($$SELECT seats.create_plan('x', 1.1234567)$$);
SELECT try($$SELECT seats.create_plan('x', 1e20)$$);
SELECT try($$SELECT seats.create_plan('x', 999999999999999.999999)$$);
SELECT try($$SELECT seats.create_plan('pro', 59.9000001)$$);
SELECT code, seat_price FROM seats.plan WHERE code IN ('x', 'pro');

-- Onboarding today opens the first cycle at local midnight of today.
SELECT org, plan, seat_limit, seats_used, frozen,
       cycle_anchor = (now() AT TIME ZONE 'America/Sao_Paulo')::date AS anchored_today,
       cycle_start = ((now() AT TIME ZONE 'America/Sao_Paulo')::date::timestamp AT TIME ZONE 'America/Sao_Paulo') AS starts_local_midnight,
       cycle_end = (((now() AT TIME ZONE 'America/Sao_Paulo')::date + interval '1 month')::date::timestamp AT TIME ZONE 'America/Sao_Paulo') AS ends_a_month_later
  FROM seats.onboard('acme', 'pro', 3);

-- A start in the future opens the first cycle there.
SELECT org, cycle_anchor, cycle_start, cycle_end, time_zone
  FROM seats.onboard('future', 'pro', 5, '2099-01-31', 'UTC');

-- A start in the past makes the current cycle the one containing today.
SELECT org, cycle_anchor, cycle_start <= now() AND now() < cycle_end AS contains_now,
       extract(day FROM cycle_start AT TIME ZONE 'America/Sao_Paulo') = 15 AS keeps_anchor_day
  FROM seats.onboard('past', 'pro', 2, '2020-01-15');

-- Quarterly plan, in another time zone.
SELECT org, cycle_start, cycle_end
  FROM seats.onboard('tokyo', 'team-usd', 1, '2099-11-30', 'Asia/Tokyo');

-- The onboarding is recorded as a change and an audit event.
SELECT org, kind, from_limit, to_limit, status, plan FROM seats.change ORDER BY id;
SELECT org, kind, detail->>'seat_limit' AS seat_limit FROM seats.event WHERE kind = 'onboard' ORDER BY id;

-- Replaying the same onboarding returns the subscription; a different one is refused.
SELECT org, seat_limit FROM seats.onboard('acme', 'pro', 3, (now() AT TIME ZONE 'America/Sao_Paulo')::date);
SELECT try($$SELECT seats.onboard('acme', 'pro', 4)$$);

-- Errors.
SELECT try($$SELECT seats.onboard('x', 'nope', 3)$$);
SELECT try($$SELECT seats.onboard('x', 'pro', -1)$$);
SELECT try($$SELECT seats.onboard('x', 'pro', 3, current_date, 'Mars/Olympus')$$);
-- Only zones of the time zone database: a POSIX string such as '+03' means
-- UTC-3 to PostgreSQL (POSIX signs are inverted), so it is refused, as are
-- the database's non-zones; a name in other case is stored as the database
-- spells it.
SELECT try(format('SELECT seats.onboard(%L, %L, 3, current_date, %L)', 'tz-' || z, 'pro', z))
  FROM unnest(ARRAY['+03', 'UTC+3', '<-03>3', 'localtime', 'posixrules', 'Factory', '', 'America', 'America/Sao_Paulo/', '../zoneinfo/UTC',
                     'posix/Factory', 'right/UTC', 'RIGHT/america/sao_paulo']) z;
SELECT org, time_zone
  FROM unnest(ARRAY['america/sao_paulo', 'UTC', 'Etc/GMT+3', 'asia/tokyo']) WITH ORDINALITY AS z(name, n),
       LATERAL seats.onboard('tz-ok-' || n, 'pro', 3, current_date, name)
 ORDER BY org;
SELECT try($$SELECT seats.onboard(NULL, 'pro', 3)$$);
SELECT try($$SELECT seats.onboard('', 'pro', 3)$$);
SELECT try($$SELECT seats.onboard('x', 'pro', NULL)$$);
SELECT try($$SELECT seats.onboard('x', 'pro', 3, NULL)$$);
SELECT try($$SELECT seats.onboard('x', 'pro', 3, 'infinity')$$);
SELECT try($$SELECT seats.onboard('x', 'pro', 3, '0900-01-01')$$);
SELECT count(*) AS no_half_writes FROM seats.subscription WHERE org = 'x';

-- The calendar behind it.
SELECT * FROM seats.cycle_bounds('2026-01-31', 'monthly', '2026-03-15');
SELECT * FROM seats.cycle_bounds('2026-04-30', 'monthly', '2026-05-30');
SELECT * FROM seats.cycle_bounds('2028-02-29', 'annual', '2029-03-01');
SELECT try($$SELECT * FROM seats.cycle_bounds('2026-01-31', 'weekly', '2026-03-15')$$);
-- A NULL argument is 22004 naming it, as everywhere else, not an empty set.
SELECT try($$SELECT * FROM seats.cycle_bounds(NULL, 'monthly', '2026-03-15')$$);
SELECT try($$SELECT * FROM seats.cycle_bounds('2026-01-31', NULL, '2026-03-15')$$);
SELECT try($$SELECT * FROM seats.cycle_bounds('2026-01-31', 'monthly', NULL)$$);
