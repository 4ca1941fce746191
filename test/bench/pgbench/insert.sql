\set org random(1, 1000)
INSERT INTO members (org_id, role, active) VALUES (:org, 'broker', true);
