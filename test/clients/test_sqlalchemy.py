"""broker_seats through SQLAlchemy 1.4 (psycopg2 dialect), Core and ORM.

Run by test/clients/run.sh on a fresh database (PGHOST, PGPORT,
BROKER_SEATS_DB); exits non-zero with a message at the first failed check.
docs/clients.md shows this code.
"""
import decimal
import logging
import os
import re
import sys
from decimal import Decimal

import sqlalchemy
from sqlalchemy import BigInteger, Boolean, Column, Text, create_engine, select, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, declarative_base

from common import DB, ORG, check


def engine(user):
    url = URL.create("postgresql+psycopg2", username=user, database=DB,
                     query={"host": os.environ["PGHOST"], "port": os.environ["PGPORT"]})
    return create_engine(url, future=True)


Base = declarative_base()


class Member(Base):
    __tablename__ = "crm_members"
    id = Column(BigInteger, primary_key=True)
    org_id = Column(Text, nullable=False)
    name = Column(Text)
    role = Column(Text, nullable=False)
    active = Column(Boolean, nullable=False, server_default=text("true"))


members = Member.__table__
app = engine("crm_app")
admin = engine("postgres")
check(sqlalchemy.__version__.startswith("1.4"), "SQLAlchemy %s" % sqlalchemy.__version__)

# --- Core: fill the org to its limit (2), the third broker raises SB001 ------
with app.begin() as conn:
    conn.execute(members.insert(), [{"org_id": ORG, "name": "Ana", "role": "broker"},
                                    {"org_id": ORG, "name": "Bruno", "role": "broker"}])

try:
    with app.begin() as conn:  # rolled back when the block raises
        conn.execute(members.insert(), {"org_id": ORG, "name": "Caio", "role": "broker"})
    check(False, "the third broker is refused")
except DBAPIError as e:
    if e.orig.pgcode != "SB001":
        raise
    diag = e.orig.diag
    used, limit = map(int, re.search(r"(\d+)/(\d+)", diag.message_detail).groups())
    with app.connect() as conn:
        seats_used, seat_limit = conn.execute(text("SELECT seats_used, seat_limit FROM seats.usage WHERE org = :org"),
                                              {"org": ORG}).one()
    check(type(e) is sqlalchemy.exc.DatabaseError and not isinstance(e, sqlalchemy.exc.IntegrityError),
          "SB001 is a sqlalchemy.exc.DatabaseError (a DBAPIError), not an IntegrityError")
    check(e.orig.pgcode == "SB001", "e.orig.pgcode == 'SB001'")
    check(diag.message_primary.startswith("Seu plano atingiu o limite de corretores ativos."),
          "e.orig.diag.message_primary: " + diag.message_primary)
    check((used, limit) == (2, 2), "used/limit from e.orig.diag.message_detail: %d/%d" % (used, limit))
    check("seats.upgrade" in (diag.message_hint or ""), "e.orig.diag.message_hint: %s" % diag.message_hint)
    check((diag.schema_name, diag.table_name, diag.constraint_name) == ("public", "crm_members", "broker_seat_limit"),
          "schema_name, table_name, constraint_name: %s, %s, %s"
          % (diag.schema_name, diag.table_name, diag.constraint_name))
    check((seats_used, seat_limit) == (2, 2), "seats.usage after the rollback: %d/%d" % (seats_used, seat_limit))

# --- ORM: session.begin_nested() is a savepoint, catch SB001 and go on --------
with Session(app) as session, session.begin():
    session.add(Member(org_id=ORG, name="Olga", role="owner"))
    try:
        with session.begin_nested():  # SAVEPOINT; the flush at its end raises
            session.add(Member(org_id=ORG, name="Caio", role="broker"))
    except DBAPIError as e:
        if e.orig.pgcode != "SB001":
            raise
    session.add(Member(org_id=ORG, name="Marcos", role="manager"))
with Session(app) as session:
    names = ",".join(session.scalars(select(Member.name).where(Member.org_id == ORG).order_by(Member.id)))
check(names == "Ana,Bruno,Olga,Marcos", "session.begin_nested(): the outer transaction went on: " + names)

# --- quote_upgrade: money is an exact decimal.Decimal -----------------------
with app.connect() as conn:
    amount, currency, remaining, in_cycle = conn.execute(
        text("SELECT amount, currency, units_remaining, units_in_cycle FROM seats.quote_upgrade(:org, 3)"),
        {"org": ORG}).one()
    message = conn.execute(text("SELECT seats.customer_message('limit_reached', :org)"), {"org": ORG}).scalar_one()
check(isinstance(amount, Decimal), "quote_upgrade amount is %s: %s" % (type(amount).__name__, amount))
expected = (Decimal("89.90") * remaining / in_cycle).quantize(Decimal("0.01"), decimal.ROUND_HALF_UP)
check(amount == expected and amount.as_tuple().exponent == -2 and currency == "BRL",
      "amount = 1 x 89.90 x %d/%d = %s BRL" % (remaining, in_cycle, amount))

# --- customer_message: the runbook's Portuguese text ------------------------
check(message.startswith("Seu plano atingiu o limite de corretores ativos.") and "pró-rata" in message
      and message.endswith("Em uso: 2 de 2 assentos de corretor."), "customer_message: " + message)

# --- downgrade: the result column; SQLAlchemy swallows the NOTICE -----------
# (the psycopg2 dialect moves each NOTICE from the connection to the logger
# "sqlalchemy.dialects.postgresql" at INFO, silent unless that level is enabled)
seen = []
handler = logging.Handler()
handler.emit = lambda record: seen.append(record.getMessage())
logging.getLogger("sqlalchemy.dialects.postgresql").addHandler(handler)
with admin.begin() as conn:
    row = conn.execute(text("SELECT * FROM seats.schedule_downgrade(:org, 1)"), {"org": ORG}).mappings().one()
    raw_notices = list(conn.connection.dbapi_connection.notices)
check(row["status"] == "scheduled" and (row["from_limit"], row["to_limit"]) == (2, 1), "downgrade 2 -> 1 scheduled")
check(raw_notices == [] and seen == [],
      "by default the NOTICE is gone: conn.notices emptied, nothing reaches a handler")
logging.getLogger("sqlalchemy.dialects.postgresql").setLevel(logging.INFO)
with admin.begin() as conn:
    conn.execute(text("SELECT seats.schedule_downgrade(:org, 1)"), {"org": ORG})  # replaces the pending one
check(any("more than the new limit of 1" in m for m in seen),
      "it shows only with logger sqlalchemy.dialects.postgresql at INFO: %s" % seen[-1].splitlines()[0])
check(row["brokers_over_new_limit"] == 1, "brokers_over_new_limit = %s" % row["brokers_over_new_limit"])

# --- upgrade: money inside the event's JSON is an exact decimal string -------
with admin.begin() as conn:
    charged = conn.execute(text("SELECT amount FROM seats.upgrade(:org, 3, 'ticket-1')"), {"org": ORG}).scalar_one()
    detail = conn.execute(text("SELECT detail FROM seats.event WHERE kind = 'upgrade_applied' "
                               "ORDER BY id DESC LIMIT 1")).scalar_one()  # a dict
check(isinstance(detail["amount"], str) and isinstance(detail["seat_price"], str),
      "upgrade_applied: amount %r and seat_price %r are strings" % (detail["amount"], detail["seat_price"]))
check(Decimal(detail["amount"]) == charged and detail["seat_price"] == "89.90",
      "Decimal(detail['amount']) == the change's amount %s" % charged)

# --- turnover: CALL seats.close_due_cycles() needs AUTOCOMMIT ---------------
with admin.begin() as conn:
    conn.execute(text("SELECT seats.onboard('due-org', 'imob-pro', 2, (current_date - interval '40 days')::date)"))
with admin.connect() as conn:  # a transaction begins with the first statement
    try:
        conn.execute(text("CALL seats.close_due_cycles(now() + interval '70 days')"))
        check(False, "CALL inside engine.connect()'s transaction is refused")
    except DBAPIError as e:
        conn.rollback()
        check(e.orig.pgcode == "25001", "in a transaction: %s %s" % (e.orig.pgcode, e.orig.diag.message_primary))
with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
    conn.execute(text("CALL seats.close_due_cycles(now() + interval '70 days')"))
    turned = conn.execute(text("SELECT count(*) FROM seats.turnover WHERE org = 'due-org'")).scalar_one()
check(turned >= 1, 'isolation_level="AUTOCOMMIT": CALL turned due-org over (%d seats.turnover rows)' % turned)

app.dispose()
admin.dispose()
