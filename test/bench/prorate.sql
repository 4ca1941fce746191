-- seats.prorate over a million rows against the same formula written as one
-- plain SQL numeric expression (day granularity, America/Sao_Paulo, BRL).
-- Both sums must agree; the runner times each query.
\set rows 1000000
\echo variant=broker_seats
SELECT sum(seats.prorate(3, 49.90, '2026-11-01 00:00-03', '2026-12-01 00:00-03',
                         '2026-11-01 00:00-03'::timestamptz + (g % 2592000) * interval '1 second'))
  FROM generate_series(1, :rows) g;
\echo variant=sql_expression
SELECT sum(round(3 * 49.90 * (('2026-12-01'::date - (('2026-11-01 00:00-03'::timestamptz + (g % 2592000) * interval '1 second')
                  AT TIME ZONE 'America/Sao_Paulo')::date)::numeric / ('2026-12-01'::date - '2026-11-01'::date)), 2))
  FROM generate_series(1, :rows) g;
\echo variant=series_only
SELECT count('2026-11-01 00:00-03'::timestamptz + (g % 2592000) * interval '1 second')
  FROM generate_series(1, :rows) g;
