-- broker_seats: broker seats per organization, enforced inside the database.
\echo Use "CREATE EXTENSION broker_seats" to load this file. \quit

-- Every function below that writes is SECURITY DEFINER with a pinned
-- search_path and schema-qualified names; PUBLIC may execute none of them
-- (see the grants at the end). Organization keys are text: the canonical
-- output of the member table's key type (bigint, integer, uuid or text).

