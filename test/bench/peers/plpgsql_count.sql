-- Peer "plpgsql-count": what a DBA writes first. Before a row starts to
-- consume a seat, lock the org's row and count its active brokers.
-- Correct at READ COMMITTED (the count runs after the lock, in a statement
-- of its own); O(org size) per write.
CREATE FUNCTION count_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_limit int;
    v_used bigint;
BEGIN
    IF NEW.role = 'broker' AND NEW.active
       AND (TG_OP = 'INSERT' OR NOT (OLD.role = 'broker' AND OLD.active AND OLD.org_id = NEW.org_id)) THEN
        SELECT seat_limit INTO v_limit FROM org_limits WHERE org_id = NEW.org_id FOR UPDATE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'organization % has no subscription', NEW.org_id USING ERRCODE = 'SB002';
        END IF;
        SELECT count(*) INTO v_used FROM members
         WHERE org_id = NEW.org_id AND role = 'broker' AND active;
        IF v_used >= v_limit THEN
            RAISE EXCEPTION 'no free seat: %/%', v_used, v_limit USING ERRCODE = 'SB001';
        END IF;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER count_guard BEFORE INSERT OR UPDATE OF org_id, role, active ON members
    FOR EACH ROW EXECUTE FUNCTION count_guard();
