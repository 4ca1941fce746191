-- The hard limit on every write path (SPEC §1.3).
SET datestyle = ISO, YMD;
SET timezone = 'America/Sao_Paulo';
SELECT code FROM seats.create_plan('std', 20);
CREATE TABLE team (id int PRIMARY KEY, org_id text, role text NOT NULL, active boolean NOT NULL DEFAULT true,
                   name text, updated_by text);
SELECT org FROM seats.onboard('a', 'std', 2);
SELECT org FROM seats.onboard('b', 'std', 1);
SELECT seats.attach('team');
CREATE VIEW used AS SELECT org, seats_used, seat_limit FROM seats.subscription WHERE org IN ('a', 'b') ORDER BY org;

-- INSERT: owners and managers never use a seat; brokers up to the limit.
INSERT INTO team VALUES (1, 'a', 'owner', true), (2, 'a', 'manager', true), (3, 'a', 'broker', true);
INSERT INTO team VALUES (4, 'a', 'broker', true);
-- The blocked fourth broker: SB001 with the customer text, used/limit and the options.
\set VERBOSITY default
INSERT INTO team VALUES (5, 'a', 'broker', true);
\set VERBOSITY sqlstate
INSERT INTO team VALUES (5, 'a', 'broker', true);
\set VERBOSITY default
-- An inactive broker is fine.
INSERT INTO team VALUES (5, 'a', 'broker', false);
SELECT * FROM used;

-- UPDATE: reactivation, role change to broker, move to another org.
SELECT try($$UPDATE team SET active = true WHERE id = 5$$);
SELECT try($$UPDATE team SET role = 'broker' WHERE id = 2$$);
UPDATE team SET active = false WHERE id = 4;
UPDATE team SET active = true WHERE id = 5;
SELECT * FROM used;
INSERT INTO team VALUES (10, 'b', 'broker', true);
SELECT try($$UPDATE team SET org_id = 'b' WHERE id = 3$$);
SELECT try($$UPDATE team SET org_id = 'a' WHERE id = 10$$);
SELECT * FROM used;
UPDATE team SET active = false WHERE id = 10;
UPDATE team SET org_id = 'b' WHERE id = 3;   -- a frees its seat, b has room
SELECT * FROM used;
-- A swap inside one statement nets to zero and passes at the limit.
INSERT INTO team VALUES (9, 'a', 'broker', true);
SELECT * FROM used;
UPDATE team SET active = NOT active WHERE id IN (4, 5);
SELECT id, active FROM team WHERE id IN (4, 5) ORDER BY id;
SELECT * FROM used;
-- Updates that touch no seat column pass even at the limit.
UPDATE team SET name = 'edited' WHERE org_id = 'a';
SELECT * FROM used;

-- DELETE frees seats.
DELETE FROM team WHERE id = 4;
SELECT * FROM used;

-- INSERT .. ON CONFLICT: the update branch reactivating is checked too.
INSERT INTO team VALUES (6, 'a', 'broker', false);
INSERT INTO team VALUES (6, 'a', 'broker', true) ON CONFLICT (id) DO UPDATE SET active = EXCLUDED.active;
SELECT try($$INSERT INTO team VALUES (7, 'a', 'broker', false), (5, 'a', 'broker', true)
             ON CONFLICT (id) DO UPDATE SET name = 'x'$$);
SELECT * FROM used;
UPDATE team SET active = false WHERE id = 6;
SELECT try($$INSERT INTO team VALUES (5, 'a', 'broker', false) ON CONFLICT (id) DO UPDATE SET active = true$$);
SELECT try($$INSERT INTO team VALUES (6, 'a', 'broker', true) ON CONFLICT (id) DO UPDATE SET active = true$$);
SELECT try($$INSERT INTO team VALUES (8, 'a', 'broker', true) ON CONFLICT (id) DO NOTHING$$);
SELECT * FROM used;

-- MERGE (insert, update and delete actions).
CREATE TABLE incoming (id int, org_id text, role text, active boolean);
INSERT INTO incoming VALUES (20, 'b', 'broker', true), (21, 'b', 'broker', true);
SELECT try($$MERGE INTO team t USING incoming i ON t.id = i.id
             WHEN NOT MATCHED THEN INSERT VALUES (i.id, i.org_id, i.role, i.active)$$);
DELETE FROM incoming WHERE id = 21;
UPDATE team SET active = false WHERE id = 3;
MERGE INTO team t USING incoming i ON t.id = i.id
  WHEN NOT MATCHED THEN INSERT VALUES (i.id, i.org_id, i.role, i.active);
SELECT * FROM used;
INSERT INTO incoming VALUES (3, 'b', 'broker', true);
SELECT try($$MERGE INTO team t USING incoming i ON t.id = i.id
             WHEN MATCHED THEN UPDATE SET active = i.active$$);
MERGE INTO team t USING incoming i ON t.id = i.id
  WHEN MATCHED AND t.id = 20 THEN DELETE
  WHEN MATCHED THEN UPDATE SET active = i.active;
SELECT * FROM used;

-- COPY: within the limit, then beyond it (the whole COPY is refused).
DELETE FROM team WHERE org_id = 'b';
COPY team (id, org_id, role, active) FROM stdin;
30	b	broker	true
31	b	owner	true
\.
SELECT * FROM used;
COPY team (id, org_id, role, active) FROM stdin;
32	b	broker	false
33	b	broker	true
\.
SELECT count(*) AS rows_kept FROM team WHERE id IN (32, 33);
SELECT * FROM used;

-- Multi-row statements are judged by their net effect per org.
SELECT try($$INSERT INTO team SELECT 100 + g, 'a', 'broker', true FROM generate_series(1, 5) g$$);
UPDATE team SET active = false WHERE org_id = 'a' AND role = 'broker';
INSERT INTO team SELECT 100 + g, 'a', 'broker', g <= 2 FROM generate_series(1, 5) g;
SELECT * FROM used;

-- TRUNCATE gives every seat back.
TRUNCATE team;
SELECT * FROM used;

-- Another BEFORE trigger that rewrites the row after ours would have seen
-- it: the stored row is what counts (here it deactivates guest brokers).
CREATE FUNCTION deactivate_guests() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.name = 'guest' THEN NEW.active := false; END IF;
    IF NEW.name = 'promote' THEN NEW.role := 'broker'; NEW.active := true; END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER zz_rewrite BEFORE INSERT OR UPDATE ON team FOR EACH ROW EXECUTE FUNCTION deactivate_guests();
INSERT INTO team (id, org_id, role, active, name) VALUES (40, 'a', 'broker', true, 'guest');
INSERT INTO team (id, org_id, role, active, name) VALUES (41, 'a', 'manager', false, 'promote');
SELECT * FROM used;
SELECT * FROM seats.revalidate('a');
UPDATE team SET name = 'promote' WHERE id = 40;
SELECT * FROM used;
SELECT try($$INSERT INTO team (id, org_id, role, name) VALUES (42, 'a', 'manager', 'promote')$$);
DROP TRIGGER zz_rewrite ON team;

-- Brokers without an organization hold no seat; giving them one is checked.
INSERT INTO team VALUES (50, NULL, 'broker', true);
SELECT try($$UPDATE team SET org_id = 'a' WHERE id = 50$$);

-- SB002: a seat in an org without a subscription; other roles pass.
SELECT try($$INSERT INTO team VALUES (60, 'nobody', 'broker', true)$$);
INSERT INTO team VALUES (60, 'nobody', 'owner', true);
INSERT INTO team VALUES (61, 'nobody', 'broker', false);

-- A failed statement leaves nothing half-written, and a savepoint rollback
-- gives the seat back.
BEGIN;
SAVEPOINT s;
INSERT INTO team VALUES (70, 'b', 'broker', true);
ROLLBACK TO s;
SELECT * FROM used;
COMMIT;
SELECT * FROM seats.revalidate() WHERE org IN ('a', 'b');

-- English customer texts.
SET broker_seats.language = 'en';
INSERT INTO team VALUES (80, 'a', 'broker', true);
RESET broker_seats.language;
