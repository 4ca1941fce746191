------------------------------------------------------------------------------
-- Privileges: PUBLIC gets nothing that writes.
------------------------------------------------------------------------------

REVOKE ALL ON ALL TABLES IN SCHEMA seats FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA seats FROM PUBLIC;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA seats FROM PUBLIC;
REVOKE EXECUTE ON ALL PROCEDURES IN SCHEMA seats FROM PUBLIC;
GRANT USAGE ON SCHEMA seats TO PUBLIC;
-- Pure calculations and texts write nothing.
GRANT EXECUTE ON FUNCTION seats.customer_message(text, text, text) TO PUBLIC;
-- Its text, filled with numbers only from what seats.usage shows the caller.
GRANT EXECUTE ON FUNCTION seats._customer_text(text, text, int, int, int, date) TO PUBLIC;
GRANT EXECUTE ON FUNCTION seats.cycle_bounds(date, text, date) TO PUBLIC;
GRANT EXECUTE ON FUNCTION seats.prorate(int, numeric, timestamptz, timestamptz, timestamptz, text, text, text) TO PUBLIC;
-- The thresholds' defaults (constants), which the view seats.settings
-- calls with its reader's rights: readers granted the view need them.
GRANT EXECUTE ON FUNCTION seats._setting_defaults() TO PUBLIC;
