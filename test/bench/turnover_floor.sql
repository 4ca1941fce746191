-- The floor: one set-based statement making the same state change as the
-- turnover (subscriptions moved to the next cycle, pending downgrades
-- applied or blocked by capacity, one turnover row per org), without the
-- per-org lock, the audit events and the failure isolation.
WITH due AS (
  SELECT s.org, s.cycle_start, s.cycle_end, s.seats_used, c.id AS change_id, c.to_limit,
         CASE WHEN c.id IS NULL THEN NULL WHEN s.seats_used <= c.to_limit THEN 'applied' ELSE 'blocked' END AS outcome
    FROM seats.subscription s
    LEFT JOIN seats.change c ON c.org = s.org AND c.kind = 'downgrade' AND c.status = 'scheduled'
   WHERE s.cycle_end <= '2099-02-01 00:00-03'),
changes AS (
  UPDATE seats.change c SET status = d.outcome,
         applied_at = CASE WHEN d.outcome = 'applied' THEN d.cycle_end END
    FROM due d WHERE c.id = d.change_id),
subs AS (
  UPDATE seats.subscription s
     SET cycle_start = d.cycle_end, cycle_end = d.cycle_end + interval '1 month',
         seat_limit = CASE WHEN d.outcome = 'applied' THEN d.to_limit ELSE s.seat_limit END
    FROM due d WHERE s.org = d.org)
INSERT INTO seats.turnover (org, cycle_start, cycle_end, as_of, downgrade, outcome)
SELECT org, cycle_start, cycle_end, '2099-02-01 00:00-03', change_id, outcome FROM due;
