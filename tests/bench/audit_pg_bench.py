#!/usr/bin/env python3
"""Runs mugaika_bench_audit against a private PostgreSQL server started here.

  audit_pg_bench.py BENCH_BINARY [--quick] [--events N]

Starts PostgreSQL 15 with tests/e2e/pg_cluster.py (loopback, a free port; as the `postgres` user
when run as root), creates the databases bench_w (durable writes) and bench_q (queries), runs the
benchmark with --pg and prints its figures (SQLite first, then PostgreSQL), then stops the server.
"""

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from pg_cluster import PgCluster  # noqa: E402


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    binary, rest = sys.argv[1], sys.argv[2:]
    with PgCluster() as pg:
        pg.createdb("bench_w")
        pg.createdb("bench_q")
        # The binary appends "_w" and "_q" to the dbname.
        return subprocess.run([binary, "--pg", pg.conninfo("bench"), *rest]).returncode


if __name__ == "__main__":
    sys.exit(main())
