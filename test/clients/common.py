"""What the Python client tests share: the database, the org, and check()."""
import os
import sys

DB = os.environ.get("BROKER_SEATS_DB", "broker_seats_clients")
ORG = "imobiliaria-sol"


def check(cond, what):
    """Prints '# ok: what', or 'FAILED: what' and exits 1."""
    if not cond:
        print("FAILED: " + what)
        sys.exit(1)
    print("# ok: " + what)
