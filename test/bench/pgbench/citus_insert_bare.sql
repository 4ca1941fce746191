\set org random(1, 1000)
INSERT INTO bare_members (org_id, role) VALUES ('o' || :org, 'broker');
