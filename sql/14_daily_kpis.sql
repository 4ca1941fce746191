-- The runbook §5 daily indicators, with explicit business times. Blocks
-- come from the block recorder (here its SQL entry point is called the way
-- the worker calls it), episodes close at an upgrade.
SET TimeZone = 'America/Sao_Paulo';
SELECT code FROM seats.create_plan('kpi', 20);
SELECT org FROM seats.onboard('kpi-a', 'kpi', 1, '2033-03-01');
SELECT org FROM seats.onboard('kpi-b', 'kpi', 2, '2033-03-01');
-- 2033-03-10: three blocks for kpi-a (one episode), one for kpi-b.
SELECT seats._record_block('kpi-a', '2033-03-10 09:00-03', 0, 'broker', 1, 1, 1);
SELECT seats._record_block('kpi-a', '2033-03-10 09:10-03', 0, 'broker', 1, 1, 1);
SELECT seats._record_block('kpi-a', '2033-03-10 23:59-03', 0, 'broker', 2, 1, 1);
SELECT seats._record_block('kpi-b', '2033-03-10 10:00-03', 0, 'broker', 1, 2, 2);
SELECT org, block_episode_started_at FROM seats.subscription
 WHERE org IN ('kpi-a', 'kpi-b') ORDER BY org;
-- 2033-03-11: kpi-a upgrades at 09:30 (its episode lasted 24h30m), kpi-b
-- schedules a downgrade; kpi-b's episode is still open.
SELECT (seats.upgrade('kpi-a', 3, 'kpi-up', '2033-03-11 09:30-03')).to_limit;
SELECT seats._log_resolved_episodes();
SELECT (seats.schedule_downgrade('kpi-b', 1, 'kpi-down')).status;
SELECT detail->>'blocks' AS blocks, detail->>'resolution_seconds' AS seconds, at
  FROM seats.event WHERE org = 'kpi-a' AND kind = 'block_episode_closed';
-- The days (in the session's time zone: 23:59 on the 10th is still the 10th).
SELECT * FROM seats.daily_kpis('2033-03-10');
SELECT d.day, d.blocks, d.upgrades_applied, d.mean_block_resolution
  FROM seats.daily_kpis('2033-03-11') d;
SELECT d.downgrades_scheduled >= 1 AS downgrade_counted FROM seats.daily_kpis(current_date) d;
-- Under a storm the recorder writes one event for several blocks of an org,
-- table and role ("blocks"); the KPIs count blocks, not events.
SELECT seats._record_block('kpi-b', '2033-03-12 08:00-03', 0, 'broker', 1, 2, 2, 40, '2033-03-12 08:00:05-03');
SELECT detail->>'blocks' AS blocks, detail->>'last_at' AS last_at FROM seats.event
 WHERE org = 'kpi-b' AND kind = 'seat_blocked' ORDER BY id DESC LIMIT 1;
SELECT * FROM seats.daily_kpis('2033-03-12');
SELECT try($$SELECT * FROM seats.daily_kpis(NULL)$$);
-- The same day in another time zone moves the 23:59 block to the 11th.
SET TimeZone = 'UTC';
SELECT d.day, d.blocks FROM seats.daily_kpis('2033-03-10') d;
SELECT d.day, d.blocks FROM seats.daily_kpis('2033-03-11') d;
RESET TimeZone;
-- The cycle report agrees.
SELECT blocks, mean_block_resolution FROM seats.cycle_report('2033-03-01 00:00-03', '2033-04-01 00:00-03');
