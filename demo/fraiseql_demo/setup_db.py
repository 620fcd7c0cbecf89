"""Applies schema.sql (idempotent) to DATABASE_URL.

    cd demo && /usr/bin/python3 -m fraiseql_demo.setup_db
"""
import os
import pathlib
import sys

import psycopg

DATABASE_URL = os.environ.get(
    "DATABASE_URL", "postgresql://fraiseql:fraiseql@127.0.0.1:5432/fraiseql")


def main() -> int:
    schema = (pathlib.Path(__file__).with_name("schema.sql")).read_text()
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        # schema.sql has several statements (and a $$-quoted body): simple query protocol.
        conn.execute(schema.encode(), prepare=False)  # bytes -> no client-side parameter parsing
        n_items = conn.execute("SELECT count(*) FROM tb_item").fetchone()[0]
        n_users = conn.execute("SELECT count(*) FROM tb_user").fetchone()[0]
    print(f"setup_db: schema applied ({n_users} users, {n_items} items)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
