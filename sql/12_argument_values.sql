-- Arguments are values: NaN and infinities are not money, and a business
-- time before the subscription existed (or outside the supported calendar)
-- is not a time a change can be priced at. Every refused call writes
-- nothing: the seats tables are fingerprinted before and after.
CREATE FUNCTION seats_fingerprint() RETURNS text LANGUAGE sql AS $$
  SELECT md5(string_agg(t, '|' ORDER BY t)) FROM (
    SELECT 'plan ' || p::text AS t FROM seats.plan p
    UNION ALL SELECT 'subscription ' || s::text FROM seats.subscription s
    UNION ALL SELECT 'change ' || c::text FROM seats.change c
    UNION ALL SELECT 'event ' || e::text FROM seats.event e
    UNION ALL SELECT 'incident ' || i::text FROM seats.incident i
    UNION ALL SELECT 'attachment ' || a::text FROM seats.attachment a
    UNION ALL SELECT 'turnover ' || t::text FROM seats.turnover t
    UNION ALL SELECT 'freeze ' || f::text FROM seats.global_freeze f) x
$$;
SELECT code FROM seats.create_plan('values', 30);
SELECT org FROM seats.onboard('values-org', 'values', 2, '2026-11-01');
CREATE TEMP TABLE fingerprint AS SELECT seats_fingerprint() AS before;

SELECT try($$SELECT seats.create_plan('nan', 'NaN')$$);
SELECT try($$SELECT seats.create_plan('inf', 'Infinity')$$);
SELECT try($$SELECT seats.create_plan('-inf', '-Infinity')$$);
SELECT try($$SELECT seats.create_plan('values', 'NaN')$$);
SELECT try($$SELECT seats.prorate(1, 'NaN', '2026-11-01', '2026-12-01', '2026-11-15')$$);
SELECT try($$SELECT seats.prorate(1, 'Infinity', '2026-11-01', '2026-12-01', '2026-11-15')$$);
SELECT try($$SELECT seats.prorate(1, 10, '2026-11-01', '2026-12-01', 'infinity')$$);
-- Before the first cycle (and before the subscription existed), down to 4714 BC.
SELECT try($$SELECT * FROM seats.quote_upgrade('values-org', 3, '2026-10-31 23:59:59-03')$$);
SELECT try($$SELECT * FROM seats.quote_upgrade('values-org', 3, '1900-01-01')$$);
SELECT try($$SELECT * FROM seats.quote_upgrade('values-org', 3, '4714-11-24 00:00:00+00 BC')$$);
SELECT try($$SELECT seats.upgrade('values-org', 3, 'k-bc', '4714-11-24 00:00:00+00 BC')$$);
SELECT try($$SELECT seats.upgrade('values-org', 3, 'k-old', '2000-01-01')$$);
SELECT try($$SELECT seats.upgrade('values-org', 3, 'k-inf', '-infinity')$$);
-- Outside the supported calendar (1400-9999).
SELECT try($$SELECT * FROM seats.quote_upgrade('values-org', 3, '12000-01-01')$$);
SELECT try($$SELECT seats.upgrade('values-org', 3, 'k-far', '12000-01-01')$$);
SELECT seats_fingerprint() = before AS nothing_written FROM fingerprint;
SELECT (SELECT id FROM seats.request_upgrade('values-org', 4, 'k-req')) IS NOT NULL AS requested;
UPDATE fingerprint SET before = seats_fingerprint();
SELECT try(format($$SELECT seats.apply_change(%s, '1999-12-31')$$,
                  (SELECT id FROM seats.change WHERE request_key = 'k-req')));
SELECT try(format($$SELECT seats.apply_change(%s, 'infinity')$$,
                  (SELECT id FROM seats.change WHERE request_key = 'k-req')));
SELECT seats_fingerprint() = before AS nothing_written FROM fingerprint;

-- Within the first cycle all is as before.
SELECT amount, currency, units_remaining, units_in_cycle
  FROM seats.quote_upgrade('values-org', 3, '2026-11-16 12:00-03');
DROP FUNCTION seats_fingerprint();
