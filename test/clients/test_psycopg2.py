"""broker_seats through psycopg2, as the app role crm_app and as postgres.

Run by test/clients/run.sh on a fresh database (PGHOST, PGPORT,
BROKER_SEATS_DB); exits non-zero with a message at the first failed check.
docs/clients.md shows this code.
"""
import decimal
import os
import re
import sys
from decimal import Decimal

import psycopg2
import psycopg2.errors

from common import DB, ORG, check


def connect(user):
    return psycopg2.connect(host=os.environ["PGHOST"], port=os.environ["PGPORT"], dbname=DB, user=user)


app = connect("crm_app")    # the CRM's login role: GRANT seats_app TO crm_app + DML on crm_members
admin = connect("postgres")

# --- fill the org to its limit (2), the third broker raises SB001 ------------
cur = app.cursor()
cur.execute("INSERT INTO crm_members (org_id, name, role) VALUES (%s, 'Ana', 'broker'), (%s, 'Bruno', 'broker')",
            (ORG, ORG))
app.commit()

try:
    cur.execute("INSERT INTO crm_members (org_id, name, role) VALUES (%s, 'Caio', 'broker')", (ORG,))
    check(False, "the third broker is refused")
except psycopg2.Error as e:
    if e.pgcode != "SB001":
        raise
    message, detail, hint = e.diag.message_primary, e.diag.message_detail, e.diag.message_hint
    schema, table, constraint = e.diag.schema_name, e.diag.table_name, e.diag.constraint_name
    used, limit = map(int, re.search(r"(\d+)/(\d+)", detail).groups())
    app.rollback()
    cur.execute("SELECT seats_used, seat_limit FROM seats.usage WHERE org = %s", (ORG,))
    seats_used, seat_limit = cur.fetchone()
    app.rollback()
    check(type(e) is psycopg2.DatabaseError, "SB001 is a psycopg2.DatabaseError (class SB is not a standard class)")
    check(e.pgcode == "SB001" and e.diag.sqlstate == "SB001", "SQLSTATE SB001")
    check(message.startswith("Seu plano atingiu o limite de corretores ativos."), "message_primary: " + message)
    check(detail == "Organização imobiliaria-sol: 2/2 assentos de corretor em uso.", "message_detail: " + detail)
    check((used, limit) == (2, 2), "used/limit from DETAIL: %d/%d" % (used, limit))
    check(hint is not None and "seats.upgrade" in hint, "message_hint: %s" % hint)
    check((schema, table, constraint) == ("public", "crm_members", "broker_seat_limit"),
          "schema_name, table_name, constraint_name: %s, %s, %s" % (schema, table, constraint))
    check((seats_used, seat_limit) == (2, 2), "seats.usage after the rollback: %d/%d" % (seats_used, seat_limit))

# --- SB002: a broker of an organization with no subscription names the table
# and the constraint broker_seat_subscription in the same standard fields
try:
    cur.execute("INSERT INTO crm_members (org_id, name, role) VALUES ('no-such-org', 'Zé', 'broker')")
    check(False, "a broker of an unknown organization is refused")
except psycopg2.Error as e:
    app.rollback()
    check(e.pgcode == "SB002", "SQLSTATE SB002: %s" % e.pgcode)
    check((e.diag.schema_name, e.diag.table_name, e.diag.constraint_name) ==
          ("public", "crm_members", "broker_seat_subscription"),
          "SB002 schema_name, table_name, constraint_name: %s, %s, %s" %
          (e.diag.schema_name, e.diag.table_name, e.diag.constraint_name))

# --- an error aborts the transaction until ROLLBACK (or ROLLBACK TO SAVEPOINT)
try:
    cur.execute("INSERT INTO crm_members (org_id, name, role) VALUES (%s, 'Caio', 'broker')", (ORG,))
except psycopg2.Error as e:
    check(e.pgcode == "SB001", "SB001 again")
try:
    cur.execute("SELECT 1")
    check(False, "the transaction is aborted after SB001")
except psycopg2.errors.InFailedSqlTransaction:
    app.rollback()
cur.execute("SELECT 1")
check(cur.fetchone() == (1,), "after the SB001, 25P02 until rollback(); usable again after it")
app.rollback()

# savepoint: catch SB001 and go on in the same transaction
cur.execute("INSERT INTO crm_members (org_id, name, role) VALUES (%s, 'Olga', 'owner')", (ORG,))
cur.execute("SAVEPOINT new_broker")
try:
    cur.execute("INSERT INTO crm_members (org_id, name, role) VALUES (%s, 'Caio', 'broker')", (ORG,))
except psycopg2.Error as e:
    if e.pgcode != "SB001":
        raise
    cur.execute("ROLLBACK TO SAVEPOINT new_broker")
cur.execute("INSERT INTO crm_members (org_id, name, role) VALUES (%s, 'Marcos', 'manager')", (ORG,))
app.commit()
cur.execute("SELECT string_agg(name, ',' ORDER BY id) FROM crm_members WHERE org_id = %s", (ORG,))
names = cur.fetchone()[0]
app.rollback()
check(names == "Ana,Bruno,Olga,Marcos", "SAVEPOINT / ROLLBACK TO SAVEPOINT: the transaction went on: " + names)

# --- quote_upgrade: money is an exact decimal.Decimal -----------------------
cur.execute("SELECT amount, currency, units_remaining, units_in_cycle FROM seats.quote_upgrade(%s, 3)", (ORG,))
amount, currency, remaining, in_cycle = cur.fetchone()
app.rollback()
check(isinstance(amount, Decimal), "quote_upgrade amount is %s: %s" % (type(amount).__name__, amount))
expected = (Decimal("89.90") * remaining / in_cycle).quantize(Decimal("0.01"), decimal.ROUND_HALF_UP)
check(amount == expected and amount.as_tuple().exponent == -2 and currency == "BRL",
      "amount = 1 x 89.90 x %d/%d = %s BRL" % (remaining, in_cycle, amount))

# --- customer_message: the runbook's Portuguese text ------------------------
cur.execute("SELECT seats.customer_message('limit_reached', %s)", (ORG,))
text = cur.fetchone()[0]
app.rollback()
check(text.startswith(message) and "pró-rata" in text and text.endswith("Em uso: 2 de 2 assentos de corretor."),
      "customer_message: " + text)

# --- the app role may not run the turnover -----------------------------------
app.autocommit = True
try:
    cur.execute("CALL seats.close_due_cycles()")
    check(False, "crm_app cannot CALL seats.close_due_cycles()")
except psycopg2.errors.InsufficientPrivilege as e:
    check(e.pgcode == "42501", "crm_app: CALL seats.close_due_cycles() is 42501 (run it as seats_operator)")
app.autocommit = False

# --- downgrade: the result column instead of the NOTICE ----------------------
acur = admin.cursor()
acur.execute("SELECT * FROM seats.schedule_downgrade(%s, 1)", (ORG,))
row = dict(zip([c.name for c in acur.description], acur.fetchone()))
admin.commit()
check(row["status"] == "scheduled" and (row["from_limit"], row["to_limit"]) == (2, 1), "downgrade 2 -> 1 scheduled")
check(any("more than the new limit of 1" in n for n in admin.notices), "the NOTICE is in conn.notices: %s"
      % admin.notices[-1].splitlines()[0])
check(row["brokers_over_new_limit"] == 1, "brokers_over_new_limit = %s" % row["brokers_over_new_limit"])

# --- upgrade: money inside the event's JSON is an exact decimal string -------
acur.execute("SELECT amount FROM seats.upgrade(%s, 3, 'ticket-1')", (ORG,))
charged = acur.fetchone()[0]
acur.execute("SELECT detail FROM seats.event WHERE kind = 'upgrade_applied' ORDER BY id DESC LIMIT 1")
detail = acur.fetchone()[0]  # jsonb arrives as a dict (json.loads)
admin.commit()
check(isinstance(detail["amount"], str) and isinstance(detail["seat_price"], str),
      "upgrade_applied: amount %r and seat_price %r are strings" % (detail["amount"], detail["seat_price"]))
check(Decimal(detail["amount"]) == charged and detail["seat_price"] == "89.90",
      "Decimal(detail['amount']) == the change's amount %s" % charged)

# --- turnover: CALL seats.close_due_cycles() needs autocommit ---------------
acur.execute("SELECT seats.onboard('due-org', 'imob-pro', 2, (current_date - interval '40 days')::date)")
admin.commit()
try:
    acur.execute("CALL seats.close_due_cycles(now() + interval '70 days')")  # psycopg2 has sent BEGIN
    check(False, "CALL inside the driver's transaction is refused")
except psycopg2.Error as e:
    check(e.pgcode == "25001", "in a transaction: %s %s" % (e.pgcode, e.diag.message_primary))
    admin.rollback()
admin.autocommit = True
acur.execute("CALL seats.close_due_cycles(now() + interval '70 days')")
acur.execute("SELECT count(*) FROM seats.turnover WHERE org = 'due-org'")
turned = acur.fetchone()[0]
check(turned >= 1, "autocommit = True: CALL turned due-org over (%d seats.turnover rows)" % turned)

app.close()
admin.close()
