INSERT INTO members (org_id, role, active) VALUES (:org, 'broker', true);
