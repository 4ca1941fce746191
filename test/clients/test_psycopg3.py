"""broker_seats through psycopg 3, as the app role crm_app and as postgres.

Run by test/clients/run.sh on a fresh database (PGHOST, PGPORT,
BROKER_SEATS_DB); exits non-zero with a message at the first failed check.
docs/clients.md shows this code.
"""
import decimal
import os
import re
import sys
from decimal import Decimal

import psycopg
import psycopg.errors

from common import DB, ORG, check


def connect(user, **kw):
    return psycopg.connect(host=os.environ["PGHOST"], port=os.environ["PGPORT"], dbname=DB, user=user, **kw)


# prepare_threshold=None: never a named prepared statement (pgbouncer, transaction pooling)
app = connect("crm_app", prepare_threshold=None)
admin = connect("postgres")

# --- fill the org to its limit (2), the third broker raises SB001 ------------
app.execute("INSERT INTO crm_members (org_id, name, role) VALUES (%s, 'Ana', 'broker'), (%s, 'Bruno', 'broker')",
            [ORG, ORG])
app.commit()

try:
    app.execute("INSERT INTO crm_members (org_id, name, role) VALUES (%s, 'Caio', 'broker')", [ORG])
    check(False, "the third broker is refused")
except psycopg.Error as e:
    if e.sqlstate != "SB001":
        raise
    app.rollback()
    used, limit = map(int, re.search(r"(\d+)/(\d+)", e.diag.message_detail).groups())
    seats_used, seat_limit = app.execute("SELECT seats_used, seat_limit FROM seats.usage WHERE org = %s",
                                         [ORG]).fetchone()
    app.rollback()
    message = e.diag.message_primary
    check(type(e) is psycopg.DatabaseError, "SB001 is a psycopg.DatabaseError (class SB is not a standard class)")
    check(e.sqlstate == "SB001" and e.diag.sqlstate == "SB001", "SQLSTATE SB001")
    check(message.startswith("Seu plano atingiu o limite de corretores ativos."), "message_primary: " + message)
    check(e.diag.message_detail == "Organização imobiliaria-sol: 2/2 assentos de corretor em uso.",
          "message_detail: " + e.diag.message_detail)
    check((used, limit) == (2, 2), "used/limit from DETAIL: %d/%d" % (used, limit))
    check("seats.upgrade" in (e.diag.message_hint or ""), "message_hint: %s" % e.diag.message_hint)
    check((e.diag.schema_name, e.diag.table_name, e.diag.constraint_name) == ("public", "crm_members",
                                                                              "broker_seat_limit"),
          "schema_name, table_name, constraint_name: %s, %s, %s"
          % (e.diag.schema_name, e.diag.table_name, e.diag.constraint_name))
    check((seats_used, seat_limit) == (2, 2), "seats.usage after the rollback: %d/%d" % (seats_used, seat_limit))

# --- nested conn.transaction(): a savepoint, catch SB001 and go on ----------
with app.transaction():
    app.execute("INSERT INTO crm_members (org_id, name, role) VALUES (%s, 'Olga', 'owner')", [ORG])
    try:
        with app.transaction():  # SAVEPOINT; rolled back to it on the error
            app.execute("INSERT INTO crm_members (org_id, name, role) VALUES (%s, 'Caio', 'broker')", [ORG])
    except psycopg.Error as e:
        if e.sqlstate != "SB001":
            raise
    app.execute("INSERT INTO crm_members (org_id, name, role) VALUES (%s, 'Marcos', 'manager')", [ORG])
names = app.execute("SELECT string_agg(name, ',' ORDER BY id) FROM crm_members WHERE org_id = %s",
                    [ORG]).fetchone()[0]
app.rollback()
check(names == "Ana,Bruno,Olga,Marcos", "nested conn.transaction(): the outer transaction went on: " + names)

# --- quote_upgrade: money is an exact decimal.Decimal -----------------------
amount, currency, remaining, in_cycle = app.execute(
    "SELECT amount, currency, units_remaining, units_in_cycle FROM seats.quote_upgrade(%s, 3)", [ORG]).fetchone()
app.rollback()
check(isinstance(amount, Decimal), "quote_upgrade amount is %s: %s" % (type(amount).__name__, amount))
expected = (Decimal("89.90") * remaining / in_cycle).quantize(Decimal("0.01"), decimal.ROUND_HALF_UP)
check(amount == expected and amount.as_tuple().exponent == -2 and currency == "BRL",
      "amount = 1 x 89.90 x %d/%d = %s BRL" % (remaining, in_cycle, amount))

# --- customer_message: the runbook's Portuguese text ------------------------
text = app.execute("SELECT seats.customer_message('limit_reached', %s)", [ORG]).fetchone()[0]
app.rollback()
check(text.startswith(message) and "pró-rata" in text and text.endswith("Em uso: 2 de 2 assentos de corretor."),
      "customer_message: " + text)

# --- language without session state (pgbouncer transaction pooling) ---------
with app.transaction():
    app.execute("SET LOCAL broker_seats.language = 'en'")  # ends with the transaction
    en = app.execute("SELECT seats.customer_message('limit_reached', %s)", [ORG]).fetchone()[0]
lang = app.execute("SHOW broker_seats.language").fetchone()[0]
app.rollback()
check(en.startswith("Your plan has reached its limit of active brokers.") and lang == "pt_BR",
      "SET LOCAL broker_seats.language = 'en' applied inside the transaction only (after it: %s)" % lang)

with admin.transaction():
    admin.execute("SELECT seats.set_customer_language(%s, 'en')", [ORG])  # stored on the subscription
try:
    app.execute("INSERT INTO crm_members (org_id, name, role) VALUES (%s, 'Caio', 'broker')", [ORG])
    check(False, "the third broker is refused")
except psycopg.Error as e:
    app.rollback()
    check(e.sqlstate == "SB001" and e.diag.message_primary.startswith("Your plan has reached")
          and e.diag.message_detail == "Organization imobiliaria-sol: 2/2 broker seats in use.",
          "set_customer_language(org, 'en'): SB001 in English, no session setting: " + e.diag.message_detail)
with admin.transaction():
    admin.execute("SELECT seats.set_customer_language(%s, NULL)", [ORG])

# --- downgrade: the result column instead of the NOTICE ----------------------
notices = []  # a Diagnostic is valid only during the callback: keep its fields
admin.add_notice_handler(lambda d: notices.append((d.severity_nonlocalized, d.message_primary)))
with admin.transaction():
    cur = admin.execute("SELECT * FROM seats.schedule_downgrade(%s, 1)", [ORG])
    row = dict(zip([c.name for c in cur.description], cur.fetchone()))
check(row["status"] == "scheduled" and (row["from_limit"], row["to_limit"]) == (2, 1), "downgrade 2 -> 1 scheduled")
check(any(sev == "NOTICE" and "more than the new limit of 1" in msg for sev, msg in notices),
      "the NOTICE reaches add_notice_handler: %s" % (notices[-1:],))
check(row["brokers_over_new_limit"] == 1, "brokers_over_new_limit = %s" % row["brokers_over_new_limit"])

# --- upgrade: money inside the event's JSON is an exact decimal string -------
with admin.transaction():
    charged = admin.execute("SELECT amount FROM seats.upgrade(%s, 3, 'ticket-1')", [ORG]).fetchone()[0]
    detail = admin.execute("SELECT detail FROM seats.event WHERE kind = 'upgrade_applied' "
                           "ORDER BY id DESC LIMIT 1").fetchone()[0]  # jsonb arrives as a dict (json.loads)
check(isinstance(detail["amount"], str) and isinstance(detail["seat_price"], str),
      "upgrade_applied: amount %r and seat_price %r are strings" % (detail["amount"], detail["seat_price"]))
check(Decimal(detail["amount"]) == charged and detail["seat_price"] == "89.90",
      "Decimal(detail['amount']) == the change's amount %s" % charged)

# --- turnover: CALL seats.close_due_cycles() needs autocommit ---------------
admin.execute("SELECT seats.onboard('due-org', 'imob-pro', 2, (current_date - interval '40 days')::date)")
admin.commit()
try:
    admin.execute("CALL seats.close_due_cycles(now() + interval '70 days')")  # psycopg has sent BEGIN
    check(False, "CALL inside the driver's transaction is refused")
except psycopg.errors.ActiveSqlTransaction as e:
    admin.rollback()
    check(e.sqlstate == "25001", "in a transaction: %s %s" % (e.sqlstate, e.diag.message_primary))
admin.close()

with connect("postgres", autocommit=True) as ops:
    ops.execute("CALL seats.close_due_cycles(now() + interval '70 days')")
    turned = ops.execute("SELECT count(*) FROM seats.turnover WHERE org = 'due-org'").fetchone()[0]
check(turned >= 1, "autocommit=True: CALL turned due-org over (%d seats.turnover rows)" % turned)

app.close()
