-- Peer "plpgsql-counter": a PL/pgSQL row trigger keeping the same counter
-- as broker_seats, with the same atomic conditional increment as the floor.
-- O(1) per row; one statement touching k seats of one org updates the same
-- counter row k times, which grows with k².
CREATE FUNCTION counter_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_held boolean := TG_OP <> 'INSERT' AND OLD.role = 'broker' AND OLD.active;
    v_holds boolean := TG_OP <> 'DELETE' AND NEW.role = 'broker' AND NEW.active;
BEGIN
    IF v_held AND v_holds AND OLD.org_id = NEW.org_id THEN
        RETURN NULL;
    END IF;
    IF v_held THEN
        UPDATE org_limits SET seats_used = seats_used - 1 WHERE org_id = OLD.org_id;
    END IF;
    IF v_holds THEN
        UPDATE org_limits SET seats_used = seats_used + 1
         WHERE org_id = NEW.org_id AND seats_used < seat_limit;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'no free seat in organization %', NEW.org_id USING ERRCODE = 'SB001';
        END IF;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER counter_guard AFTER INSERT OR DELETE OR UPDATE OF org_id, role, active ON members
    FOR EACH ROW EXECUTE FUNCTION counter_guard();
