-- The floor: one set-based statement making the same state change as the
-- turnover and writing the same rows: subscriptions moved to the next
-- cycle, pending downgrades applied or blocked by capacity, one turnover row
-- per org and one hash-chained audit event per downgrade outcome (the same
-- seats.event rows, each linked to the org's previous event). What it
-- leaves out: the per-org locks, the calendar (a plain month from the
-- cycle end), catching up missed cycles and the failure isolation.
WITH due AS (
  SELECT s.org, s.cycle_start, s.cycle_end, s.seats_used, s.seat_limit, c.id AS change_id, c.to_limit,
         CASE WHEN c.id IS NULL THEN NULL WHEN s.seats_used <= c.to_limit THEN 'applied' ELSE 'blocked' END AS outcome
    FROM seats.subscription s
    LEFT JOIN seats.change c ON c.org = s.org AND c.kind = 'downgrade' AND c.status = 'scheduled'
   WHERE s.cycle_end <= '2099-02-01 00:00-03'),
changes AS (
  UPDATE seats.change c SET status = d.outcome,
         applied_at = CASE WHEN d.outcome = 'applied' THEN d.cycle_end END
    FROM due d WHERE c.id = d.change_id),
heads AS (  -- each chain's last event, set-based
  SELECT DISTINCT ON (e.org) e.org, e.hash FROM seats.event e
   WHERE e.org IN (SELECT org FROM due WHERE outcome IS NOT NULL)
   ORDER BY e.org, e.id DESC),
numbered AS (
  SELECT d.*, nextval('seats.event_id_seq') AS event_id, h.hash AS prev_hash,
         jsonb_build_object('from_limit', d.seat_limit, 'to_limit', d.to_limit, 'seats_used', d.seats_used,
                            'cycle_end', d.cycle_end,
                            'next_attempt', CASE WHEN d.outcome = 'applied' THEN NULL
                                                 ELSE d.cycle_end + interval '1 month' END) AS detail
    FROM due d LEFT JOIN heads h ON h.org = d.org WHERE d.outcome IS NOT NULL),
events AS (
  INSERT INTO seats.event (id, org, kind, at, actor, change_id, detail, prev_hash, hash)
  SELECT n.event_id, n.org, 'downgrade_' || n.outcome, n.cycle_end, session_user, n.change_id, n.detail, n.prev_hash,
         seats._event_hash(n.prev_hash, n.event_id, n.org, 'downgrade_' || n.outcome, n.cycle_end,
                           session_user, n.change_id, n.detail)
    FROM numbered n),
subs AS (
  UPDATE seats.subscription s
     SET cycle_start = d.cycle_end, cycle_end = d.cycle_end + interval '1 month',
         seat_limit = CASE WHEN d.outcome = 'applied' THEN d.to_limit ELSE s.seat_limit END
    FROM due d WHERE s.org = d.org)
INSERT INTO seats.turnover (org, cycle_start, cycle_end, as_of, downgrade, outcome)
SELECT org, cycle_start, cycle_end, '2099-02-01 00:00-03', change_id, outcome FROM due;
