-- What docs/operacao.pt-BR.md takes as given: the extension, the CRM's
-- members table under the rule, and a person (maria) to grant a role to.
SET client_min_messages = warning;
CREATE EXTENSION broker_seats;
CREATE TABLE crm_members (
    id      bigserial PRIMARY KEY,
    org_id  text NOT NULL,
    name    text NOT NULL,
    role    text NOT NULL,
    active  boolean NOT NULL DEFAULT true
);
SELECT seats.attach('crm_members');
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'maria') THEN CREATE ROLE maria LOGIN; END IF;
END $$;
RESET client_min_messages;
