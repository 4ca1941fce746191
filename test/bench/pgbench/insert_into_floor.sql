WITH added AS (INSERT INTO members (org_id, role, active) VALUES (:org, 'broker', true) RETURNING org_id)
UPDATE org_limits l SET seats_used = seats_used + 1 FROM added a WHERE l.org_id = a.org_id AND l.seats_used < l.seat_limit;
