\set org random(1, 1000)
INSERT INTO crm_members (org_id, role) VALUES ('o' || :org, 'broker');
