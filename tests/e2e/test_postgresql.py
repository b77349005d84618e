#!/usr/bin/env python3
"""e2e.postgresql: the audit trail on a real PostgreSQL server (docs/audit.md "PostgreSQL").

No Postfix: `mugaika sanitize` writes the records, `mugaika audit ...` reads them, psql tampers.
A private PostgreSQL 15 (tests/e2e/pg_cluster.py) is started for the test, one database per
scenario, and stopped at the end:

  a. two writers at once: two threads, each running `mugaika sanitize` (one process per mail)
     over 15 different sample mails into one database; the chain verifies, one mail record per
     run, seq 1..N without gaps or duplicates across both tables;
  b. the same mails into SQLite and into PostgreSQL: `audit query --format json` gives the same
     records (subject, verdict) for sender/recipient addresses and domains, message-id,
     filename (Japanese), sha256, filter, verdict, direction, rule;
  c. tampering with psql is caught: an UPDATE (hash mismatch at that seq), a DELETE of an event
     in the middle (gap at that seq);
  d. seals: verify --seal passes after more mail; deleting the newest message with its events
     leaves a chain that plain verify accepts but verify --seal reports as cut off;
  e. retention: purge with --now 200 days ahead removes the rows through a checkpoint, the rest
     verifies ("retained from seq"), and later mail still verifies;
  f. migrate: an SQLite trail copied into an empty database verifies with the same head hash
     (and the same records); a second migrate into the now non-empty database exits 3.

Environment: MUGAIKA_CLI, MUGAIKA_SOURCE_DIR (as for the other e2e tests), MUGAIKA_E2E_KEEP=1
keeps the temporary directories. Needs the Debian package `postgresql` (scripts/setup); without
it the test fails, it never skips. Runs as root (the server then runs as `postgres`) or as any
other user.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mugaika_e2e import SOURCE_DIR, cli_binary, sample_mails  # noqa: E402
from pg_cluster import PgCluster, PgError, PgMissing  # noqa: E402

CLI = str(cli_binary())
SAMPLES = SOURCE_DIR / "samples/mail"
HEAD_RE = re.compile(r"head seq (\d+),? hash ([0-9a-f]{64})")
SEAL_RE = re.compile(r"^mugaika-seal:v1:(\d+):([0-9a-f]{64}):(\d+)$")
BROKEN_RE = re.compile(r"audit chain BROKEN at seq (\d+): (.*)")
DAY_MS = 86_400_000


def log(msg: str) -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------------------------------
# config and commands

def make_config(path: Path, backend: str, connection: str = "", retention_days: int | None = None
                ) -> Path:
    """config/mugaika.toml with [antivirus] enabled = false and the [audit] lines changed."""
    lines = (SOURCE_DIR / "config/mugaika.toml").read_text().splitlines()
    section = None
    done = collections.Counter()
    out = []
    for line in lines:
        m = re.match(r"^\[([a-z_.]+)\]\s*$", line)
        if m:
            section = m.group(1)
        if section == "antivirus" and line.strip() == "enabled = true":
            line = "enabled = false"
            done["antivirus.enabled"] += 1
        elif section == "audit" and line.startswith("backend ="):
            line = f'backend = "{backend}"'
            done["audit.backend"] += 1
        elif section == "audit" and line.startswith("connection ="):
            line = f'connection = "{connection}"'
            done["audit.connection"] += 1
        elif section == "audit" and line.startswith("retention_days =") and \
                retention_days is not None:
            line = f"retention_days = {retention_days}"
            done["audit.retention_days"] += 1
        out.append(line)
    want = {"antivirus.enabled", "audit.backend", "audit.connection"}
    if retention_days is not None:
        want.add("audit.retention_days")
    assert set(done) == want and all(v == 1 for v in done.values()), \
        f"config/mugaika.toml changed shape: replaced {dict(done)}, wanted each of {sorted(want)}"
    path.write_text("\n".join(out) + "\n")
    return path


class Trail:
    """One audit trail: a config file (backend) plus a state dir (quarantine, SQLite file)."""

    def __init__(self, base: Path, name: str, backend: str, connection: str = "",
                 retention_days: int | None = None, pg: PgCluster | None = None,
                 dbname: str = ""):
        self.name = name
        self.dir = base / name
        self.dir.mkdir()
        self.state = self.dir / "state"
        self.config = make_config(self.dir / "mugaika.toml", backend, connection, retention_days)
        self.backend = backend
        self.pg = pg
        self.dbname = dbname
        self.runs = 0

    def run(self, *args: str, ok: tuple[int, ...] | None = (0,), timeout: float = 120
            ) -> tuple[int, str, str]:
        cmd = [CLI, "--config", str(self.config), "--state-dir", str(self.state), *args]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
        if ok is not None and p.returncode not in ok:
            raise AssertionError(f"[{self.name}] `{shlex.join(cmd)}` exited {p.returncode}, "
                                 f"expected {ok}\n--- stdout:\n{out[-3000:]}\n--- stderr:\n"
                                 f"{err[-3000:]}")
        return p.returncode, out, err

    def sanitize(self, sample: str, *envelope: str, ok: tuple[int, ...] = (0, 3, 5)) -> int:
        """One `mugaika sanitize` process (one mail record plus one config_loaded record)."""
        out = self.dir / f"out-{threading.get_ident()}.eml"
        rc, _, _ = self.run("sanitize", str(SAMPLES / sample), "-o", str(out), *envelope, ok=ok)
        self.runs += 1
        return rc

    def query(self, *filters: str, config_rows: bool = False) -> list[dict]:
        _, out, _ = self.run("audit", "query", *filters, "--format", "json", "--limit", "0")
        try:
            rows = json.loads(out or "[]")
        except json.JSONDecodeError as e:
            raise AssertionError(f"[{self.name}] audit query {filters}: not JSON ({e}): "
                                 f"{out[:500]}") from None
        return rows if config_rows else [r for r in rows if r["verdict"] != "config_loaded"]

    def verify(self, *args: str, expect: int = 0) -> str:
        rc, out, err = self.run("audit", "verify", *args, ok=None)
        text = out + err
        log(f"  [{self.name}] audit verify {' '.join(args)} -> exit {rc}: "
            f"{text.strip().splitlines()[0] if text.strip() else '(no output)'}")
        assert rc == expect, (f"[{self.name}] audit verify {' '.join(args)} exited {rc}, "
                              f"expected {expect}:\n{text}")
        return text

    def head(self) -> tuple[int, str]:
        text = self.verify()
        m = HEAD_RE.search(text)
        assert m, f"[{self.name}] no 'head seq N hash H' in verify output:\n{text}"
        return int(m.group(1)), m.group(2)

    def psql(self, sql: str) -> str:
        assert self.pg is not None
        return self.pg.psql(self.dbname, sql)

    def psql_rows(self, sql: str) -> list[list[str]]:
        return [line.split("|") for line in self.psql(sql).splitlines() if line.strip()]


def new_pg_trail(pg: PgCluster, base: Path, name: str, **kw) -> Trail:
    conninfo = pg.createdb(name)
    log(f"  created database {name}: {conninfo}")
    return Trail(base, name, "postgresql", conninfo, pg=pg, dbname=name, **kw)


def expect_broken(trail: Trail, seq: int, problem: str, *args: str) -> str:
    text = trail.verify(*args, expect=3)
    m = BROKEN_RE.search(text)
    assert m, f"[{trail.name}] verify exit 3 without 'audit chain BROKEN at seq N: ...':\n{text}"
    assert int(m.group(1)) == seq, \
        f"[{trail.name}] verify names seq {m.group(1)}, expected seq {seq}:\n{text}"
    assert problem in m.group(2), \
        f"[{trail.name}] verify problem {m.group(2)!r} does not say {problem!r}:\n{text}"
    return text


def chain_shape(trail: Trail) -> tuple[int, int, int, int]:
    """(rows, distinct seqs, min seq, max seq) over both tables, by psql."""
    (row,) = trail.psql_rows(
        "SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM "
        "(SELECT seq FROM messages UNION ALL SELECT seq FROM events) t")
    return tuple(int(x) if x else 0 for x in row)  # type: ignore[return-value]


# --------------------------------------------------------------------------------------------
# scenarios

def scenario_concurrent(pg: PgCluster, base: Path) -> None:
    log("a. two mugaika processes writing at once into one PostgreSQL trail")
    trail = new_pg_trail(pg, base, "concurrent")
    mails = [p.name for p in sample_mails()]
    assert len(mails) >= 30, f"only {len(mails)} sample mails in {SAMPLES}"
    halves = [mails[0:15], mails[15:30]]
    results: list[list] = [[], []]
    errors: list[str] = []
    barrier = threading.Barrier(2)

    def loop(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            for name in halves[i]:
                t0 = time.monotonic()
                rc = trail.sanitize(name)
                results[i].append((name, rc, t0, time.monotonic()))
        except BaseException as e:  # reported by the main thread
            errors.append(f"writer {i}: {e}")

    threads = [threading.Thread(target=loop, args=(i,)) for i in (0, 1)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    elapsed = time.monotonic() - start
    assert not any(t.is_alive() for t in threads), "a writer thread did not finish in 300 s"
    assert not errors, "\n".join(errors)
    runs = len(results[0]) + len(results[1])
    log(f"  {runs} sanitize runs in {elapsed:.1f}s "
        f"(writer 0: {len(results[0])}, writer 1: {len(results[1])}); exit codes "
        f"{dict(collections.Counter(r[1] for r in results[0] + results[1]))}")
    assert runs == 30, f"{runs} sanitize runs, expected 30"
    # Did they really run at the same time? Count overlapping (writer 0, writer 1) pairs.
    overlaps = sum(1 for a in results[0] for b in results[1] if a[2] < b[3] and b[2] < a[3])
    log(f"  {overlaps} pairs of runs overlapped in time")
    assert overlaps > 0, "the two writers never ran at the same time"

    trail.verify()
    rows = trail.query()
    config_rows = [r for r in trail.query(config_rows=True) if r["verdict"] == "config_loaded"]
    log(f"  audit query: {len(rows)} mail records, {len(config_rows)} config_loaded records")
    assert len(rows) == runs, f"{len(rows)} mail records for {runs} sanitize runs"
    assert len(config_rows) == runs, f"{len(config_rows)} config_loaded records for {runs} runs"
    want_ids = collections.Counter()
    for name in halves[0] + halves[1]:
        want_ids[_message_id(SAMPLES / name)] += 1
    got_ids = collections.Counter(r["message_id"] for r in rows)
    assert got_ids == want_ids, f"message ids differ: missing {want_ids - got_ids}, " \
                                f"extra {got_ids - want_ids}"
    assert len({r["audit_id"] for r in rows}) == runs, "audit ids are not unique"

    count, distinct, lo, hi = chain_shape(trail)
    log(f"  psql: {count} rows, {distinct} distinct seq, seq {lo}..{hi}")
    assert count == distinct, f"{count - distinct} duplicate seq values"
    assert lo == 1 and hi == count, f"seq {lo}..{hi} is not 1..{count} (gaps)"
    (msgs, events, declared), = [[int(x) for x in r] for r in trail.psql_rows(
        "SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM events), "
        "(SELECT coalesce(sum(event_count), 0) FROM messages)")]
    assert msgs == 2 * runs, f"{msgs} message rows, expected {2 * runs}"
    assert events == declared, f"{events} event rows, the messages announce {declared}"
    # Every message's events follow it directly, in idx order (a fork would interleave them).
    bad = trail.psql(
        "SELECT e.seq FROM events e JOIN messages m ON m.seq = e.message_seq "
        "WHERE e.seq <> m.seq + 1 + e.idx OR e.idx >= m.event_count")
    assert not bad.strip(), f"events out of place: seq {bad.split()}"


def _message_id(path: Path) -> str:
    import email
    import email.policy
    m = email.message_from_bytes(path.read_bytes(), policy=email.policy.compat32)
    return " ".join((m.get("Message-ID") or "").split())


# (sample, envelope) for the comparison of both backends.
COMPARE_MAILS = [
    ("19-mixed-attachments.eml", ["--from", "billing@example.com",
                                  "--rcpt", "kaikei@city.example.lg.jp"]),
    ("22-rfc2231-filenames.eml", ["--from", "Sales@Example.COM",
                                  "--rcpt", "soumu@city.example.lg.jp"]),
    ("15-html-only-hostile.eml", ["--from", "hanako.suzuki@example.jp",
                                  "--rcpt", "yamada-taro@city.example.lg.jp",
                                  "--rcpt", "kaikei@city.example.lg.jp"]),
    ("02-utf8-8bit-plain.eml", ["--from", "sales@example.com", "--rcpt", "press@example.jp"]),
    ("30-exe-disguised.eml", ["--from", "x@sub.example.com",
                              "--rcpt", "soumu@city.example.lg.jp"]),
    ("40-outbound-lg-jp.eml", ["--direction", "outbound",
                               "--from", "yamada-taro@city.example.lg.jp",
                               "--rcpt", "billing@example.com"]),
    ("28-deep-nesting-150.eml", ["--from", "spam@bad.example.net",
                                 "--rcpt", "soumu@city.example.lg.jp"]),
    ("16-alternative-mismatch.eml", ["--from", "sales@example.com",
                                     "--rcpt", "KAIKEI@City.Example.LG.JP"]),
]


def scenario_compare(pg: PgCluster, base: Path) -> None:
    log("b. the same mails into SQLite and PostgreSQL give the same query results")
    sq = Trail(base, "compare-sqlite", "sqlite")
    pgt = new_pg_trail(pg, base, "compare")
    for trail in (sq, pgt):
        for name, env in COMPARE_MAILS:
            trail.sanitize(name, *env)
        trail.verify()
    log(f"  {len(COMPARE_MAILS)} mails into each backend")

    all_sq = sq.query()
    by_mid = {r["message_id"]: r for r in all_sq}
    mid = {name: _message_id(SAMPLES / name) for name, _ in COMPARE_MAILS}
    assert len(all_sq) == len(COMPARE_MAILS), f"SQLite: {len(all_sq)} records"

    def subjects(*names: str) -> collections.Counter:
        return collections.Counter((by_mid[mid[n]]["subject"], by_mid[mid[n]]["verdict"])
                                   for n in names)

    sha19 = hashlib.sha256((SAMPLES / "19-mixed-attachments.eml").read_bytes()).hexdigest()
    sha15 = hashlib.sha256((SAMPLES / "15-html-only-hostile.eml").read_bytes()).hexdigest()
    jp_names = [n for n, _ in COMPARE_MAILS
                if any("請求書" in (e.get("filename") or "") for e in by_mid[mid[n]]["events"])]
    assert jp_names, "no sample record has an event with 請求書 in its file name"

    # (filters, the records expected from what was sent; None: only compare both backends,
    # but require at least one record; "empty": no record on either)
    cases: list[tuple[list[str], object]] = [
        ([], subjects(*[n for n, _ in COMPARE_MAILS])),
        (["--sender", "sales@example.com"],
         subjects("22-rfc2231-filenames.eml", "02-utf8-8bit-plain.eml",
                  "16-alternative-mismatch.eml")),
        (["--sender", "<SALES@example.COM>"],
         subjects("22-rfc2231-filenames.eml", "02-utf8-8bit-plain.eml",
                  "16-alternative-mismatch.eml")),
        (["--sender", "example.com"],
         subjects("19-mixed-attachments.eml", "22-rfc2231-filenames.eml",
                  "02-utf8-8bit-plain.eml", "16-alternative-mismatch.eml")),
        (["--sender", "@example.jp"], subjects("15-html-only-hostile.eml")),
        (["--sender", "sub.example.com"], subjects("30-exe-disguised.eml")),
        (["--sender", "exampl_.com"], "empty"),  # % and _ are literal
        (["--recipient", "city.example.lg.jp"],
         subjects("19-mixed-attachments.eml", "22-rfc2231-filenames.eml",
                  "15-html-only-hostile.eml", "30-exe-disguised.eml",
                  "28-deep-nesting-150.eml", "16-alternative-mismatch.eml")),
        (["--recipient", "kaikei@city.example.lg.jp"],
         subjects("19-mixed-attachments.eml", "15-html-only-hostile.eml",
                  "16-alternative-mismatch.eml")),
        (["--recipient", "example.jp"], subjects("02-utf8-8bit-plain.eml")),
        (["--message-id", mid["19-mixed-attachments.eml"]], subjects("19-mixed-attachments.eml")),
        (["--message-id", mid["15-html-only-hostile.eml"].strip("<>")],
         subjects("15-html-only-hostile.eml")),
        (["--filename", "請求書"], subjects(*jp_names)),
        (["--filename", "書.pdf"], None),
        (["--filename", "no-such-name-漢字"], "empty"),
        (["--filename", "%"], "empty"),
        (["--sha256", sha19], subjects("19-mixed-attachments.eml")),
        (["--sha256", sha15.upper()], subjects("15-html-only-hostile.eml")),
        (["--filter", "text.html"], None),
        (["--filter", "av"], "empty"),  # [antivirus] enabled = false: no av step
        (["--filter", "cdr.pdf"], None),
        (["--verdict", "sanitized"], None),
        (["--verdict", "rejected"], subjects("28-deep-nesting-150.eml")),
        (["--direction", "outbound"], subjects("40-outbound-lg-jp.eml")),
        (["--rule", "inbound-attachment-cdr"], None),
        (["--action", "strip"], None),
        (["--sender", "example.com", "--filename", "請求書"], None),
    ]
    problems: list[str] = []  # every filter is tried; all differences are reported together
    for filters, expected in cases:
        a = collections.Counter((r["subject"], r["verdict"]) for r in sq.query(*filters))
        b = collections.Counter((r["subject"], r["verdict"]) for r in pgt.query(*filters))
        what = f"audit query {shlex.join(filters) or '(no filter)'}"
        before = len(problems)
        log(f"  {what}: SQLite {sum(a.values())}, PostgreSQL {sum(b.values())} records")
        if a != b:
            problems.append(f"{what}: backends differ; only SQLite: "
                            f"{sorted((a - b).elements())}; only PostgreSQL: "
                            f"{sorted((b - a).elements())}")
        for backend, got in (("SQLite", a), ("PostgreSQL", b)):
            if expected == "empty" and got:
                problems.append(f"{what} on {backend}: expected no record, got {sorted(got)}")
            elif expected is None and not got:
                problems.append(f"{what} on {backend}: expected at least one record, got none")
            elif isinstance(expected, collections.Counter) and got != expected:
                problems.append(f"{what} on {backend}: expected {sorted(expected.elements())}, "
                                f"got {sorted(got.elements())}")
        for problem in problems[before:]:
            log(f"    MISMATCH {problem}")
    # Paging, newest first, on both: offset 1 limit 2 is the 2nd and 3rd of the full list.
    for trail in (sq, pgt):
        full = trail.query()
        _, out, _ = trail.run("audit", "query", "--format", "json", "--limit", "3")
        page = [r["audit_id"] for r in json.loads(out)]
        _, out, _ = trail.run("audit", "query", "--format", "json", "--limit", "2",
                              "--offset", "1")
        page2 = [r["audit_id"] for r in json.loads(out)]
        if page[1:] != page2:
            problems.append(f"[{trail.name}] --limit 2 --offset 1 gave {page2}, --limit 3 {page}")
        assert full, f"[{trail.name}] no records"
    assert not problems, f"{len(problems)} problems:\n  " + "\n  ".join(problems)


def scenario_tamper(pg: PgCluster, base: Path) -> None:
    log("c. tampering with psql is caught")
    # UPDATE of a message row.
    upd = new_pg_trail(pg, base, "tamper_update")
    for name in ("01-ascii-plain.eml", "19-mixed-attachments.eml", "02-utf8-8bit-plain.eml"):
        upd.sanitize(name)
    upd.verify()
    seq = int(upd.psql("SELECT seq FROM messages WHERE message_id = '<19.sample@mugaika.example>'"))
    log(f"  UPDATE messages SET subject='x' WHERE seq={seq}")
    upd.psql(f"UPDATE messages SET subject='x' WHERE seq={seq}")
    expect_broken(upd, seq, "hash")

    # DELETE of an event in the middle of the chain.
    dele = new_pg_trail(pg, base, "tamper_delete")
    for name in ("01-ascii-plain.eml", "19-mixed-attachments.eml", "02-utf8-8bit-plain.eml"):
        dele.sanitize(name)
    dele.verify()
    count, _, _, hi = chain_shape(dele)
    (ev,) = dele.psql_rows(
        "SELECT e.seq FROM events e JOIN messages m ON m.seq = e.message_seq "
        "WHERE m.message_id = '<19.sample@mugaika.example>' AND e.idx = 1")
    ev_seq = int(ev[0])
    assert 1 < ev_seq < hi, f"event seq {ev_seq} is not in the middle of 1..{hi}"
    log(f"  DELETE FROM events WHERE seq={ev_seq} (chain 1..{hi})")
    dele.psql(f"DELETE FROM events WHERE seq={ev_seq}")
    expect_broken(dele, ev_seq, "gap")


def scenario_seal(pg: PgCluster, base: Path) -> None:
    log("d. seals")
    trail = new_pg_trail(pg, base, "seal")
    for name in ("01-ascii-plain.eml", "02-utf8-8bit-plain.eml"):
        trail.sanitize(name)
    seal1 = _seal(trail)
    for name in ("19-mixed-attachments.eml", "15-html-only-hostile.eml"):
        trail.sanitize(name)
    trail.verify("--seal", seal1)
    seal2 = _seal(trail)
    seal2_seq = int(SEAL_RE.match(seal2).group(1))
    trail.verify("--seal", seal2)
    (newest,) = trail.psql_rows("SELECT max(seq) FROM messages")
    newest_seq = int(newest[0])
    log(f"  deleting the newest message seq {newest_seq} and its events")
    trail.psql(f"DELETE FROM events WHERE message_seq = {newest_seq}; "
               f"DELETE FROM messages WHERE seq = {newest_seq}")
    head_seq, _ = trail.head()  # plain verify: a shorter chain is still whole
    assert head_seq == newest_seq - 1, f"head seq {head_seq} after the cut, expected " \
                                       f"{newest_seq - 1}"
    assert head_seq < seal2_seq
    text = trail.verify("--seal", seal2, expect=3)
    assert "cut off" in text, f"verify --seal after the cut does not say 'cut off':\n{text}"
    trail.verify("--seal", seal1)  # the older seal is still covered


def _seal(trail: Trail) -> str:
    _, out, err = trail.run("audit", "seal")
    first = out.splitlines()[0] if out else ""
    assert SEAL_RE.match(first), f"audit seal: first line {first!r} is not a seal\n{out}{err}"
    log(f"  seal: {first}")
    return first


def scenario_retention(pg: PgCluster, base: Path) -> None:
    log("e. retention on PostgreSQL")
    trail = new_pg_trail(pg, base, "retention", retention_days=100)
    for name in ("01-ascii-plain.eml", "19-mixed-attachments.eml", "02-utf8-8bit-plain.eml"):
        trail.sanitize(name)
    trail.verify()
    count_before, _, _, hi_before = chain_shape(trail)
    now_ms = int(time.time() * 1000) + 200 * DAY_MS
    now_iso = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now_ms / 1000))
    _, out, err = trail.run("audit", "purge", "--dry-run", "--now", now_iso)
    log(f"  purge --dry-run --now {now_iso}: {(out + err).strip().splitlines()[:1]}")
    assert chain_shape(trail)[0] == count_before, "purge --dry-run changed the database"
    _, out, err = trail.run("audit", "purge", "--now", now_iso)
    log(f"  purge --now {now_iso}: {(out + err).strip().splitlines()[:1]}")
    count, distinct, lo, hi = chain_shape(trail)
    log(f"  after purge: {count} rows, seq {lo}..{hi} (before: {count_before} rows, 1..{hi_before})")
    assert lo > hi_before, f"rows before seq {hi_before} are still there (min seq {lo})"
    mails = trail.query()
    verdicts = collections.Counter(r["verdict"] for r in mails)
    assert verdicts == {"checkpoint": 1}, f"records after the purge: {dict(verdicts)}"
    cp = mails[0]
    detail = cp["events"][0]["detail"] if cp["events"] else ""
    assert f"through_seq={hi_before}" in detail, f"checkpoint detail {detail!r}"
    text = trail.verify()
    assert "retained from seq" in text, f"verify after purge does not say 'retained from seq':\n{text}"
    trail.sanitize("15-html-only-hostile.eml")
    text = trail.verify()
    assert "retained from seq" in text, f"verify after more mail:\n{text}"
    assert len(trail.query()) == 2, "the mail after the purge is not in the trail"


def scenario_migrate(pg: PgCluster, base: Path) -> None:
    log("f. migrate an SQLite trail into PostgreSQL")
    sq = Trail(base, "migrate-sqlite", "sqlite")
    for name in ("01-ascii-plain.eml", "19-mixed-attachments.eml", "22-rfc2231-filenames.eml",
                 "28-deep-nesting-150.eml"):
        sq.sanitize(name)
    seal = _seal(sq)
    sq_head = sq.head()
    target = new_pg_trail(pg, base, "migrated")
    db = sq.state / "audit.db"
    assert db.exists(), f"no SQLite database at {db}"
    rc, out, err = sq.run("audit", "migrate", "--from", str(db), "--to", pg.conninfo("migrated"))
    log(f"  migrate: exit {rc}: {(out + err).strip().splitlines()[-1:]}")
    pg_head = target.head()
    log(f"  SQLite head seq {sq_head[0]} hash {sq_head[1]}; "
        f"PostgreSQL head seq {pg_head[0]} hash {pg_head[1]}")
    assert pg_head == sq_head, f"heads differ: SQLite {sq_head}, PostgreSQL {pg_head}"
    target.verify("--seal", seal)  # a seal taken before the move stays valid
    a = sq.query(config_rows=True)
    b = target.query(config_rows=True)
    assert a == b, "audit query --format json differs between the SQLite trail and its copy"
    rc, out, err = sq.run("audit", "migrate", "--from", str(db), "--to", pg.conninfo("migrated"),
                          ok=None)
    log(f"  migrate again: exit {rc}: {(out + err).strip().splitlines()[-1:]}")
    assert rc == 3, f"migrate into a non-empty database exited {rc}, expected 3:\n{out}{err}"
    assert target.head() == sq_head, "the second migrate changed the target"


def scenario_milter(pg: PgCluster, base: Path) -> None:
    """g. The milter behind a real Postfix with the PostgreSQL backend fails closed while the
    server is down: 4xx to the client, nothing delivered; once the server is back, the worker
    reconnects, mail flows again and the chain verifies."""
    import mugaika_e2e as e2e
    log("g. milter with backend postgresql: server stopped and started under it")
    conninfo = pg.createdb("milter_trail")
    with e2e.Harness() as h:
        cfg = h.milter_config(extra=f'[audit]\nbackend = "postgresql"\nconnection = "{conninfo}"\n')
        h.start_milter(cfg)
        mail = lambda n: e2e.make_mail(f"PostgreSQL 監査 {n}", "本文です。\n",  # noqa: E731
                                       f"<pg-milter-{n}@e2e.mugaika.test>")
        assert h.send(mail(1))[0] == 250, "first mail not accepted"
        pg.pause()
        try:
            try:
                reply = h.send(mail(2))
                raise AssertionError(f"accepted while the audit database was down: {reply}")
            except e2e.SmtpError as err:
                assert err.code // 100 == 4, f"expected a 4xx while PostgreSQL is down: {err}"
                log(f"  PostgreSQL down: {err.code} {err.message[:100]}")
        finally:
            pg.resume()
        deadline = time.monotonic() + 30
        while True:
            try:
                code = h.send(mail(3))[0]
                break
            except e2e.SmtpError as err:
                if err.code // 100 != 4 or time.monotonic() > deadline:
                    raise
                time.sleep(1)
        assert code == 250, f"mail 3 after the restart: {code}"
        h.wait_drained()
        got = sorted(d.message_id for d in h.delivered())
        assert got == ["<pg-milter-1@e2e.mugaika.test>", "<pg-milter-3@e2e.mugaika.test>"], got
        rows = [r for r in json.loads(h.cli("audit", "query", "--format", "json", "--limit", "0",
                                            config=True).stdout.decode())
                if r["verdict"] != "config_loaded"]
        ids = sorted(r["message_id"] for r in rows)
        assert ids == ["<pg-milter-1@e2e.mugaika.test>", "<pg-milter-3@e2e.mugaika.test>"], ids
        verify = h.cli("audit", "verify", config=True).stdout.decode()
        assert "audit chain ok" in verify, verify
        (count,) = pg.psql("milter_trail", "SELECT count(*) FROM messages "
                                           "WHERE verdict = 'config_loaded'").split()
        assert int(count) >= 1, "the milter's start was not audited in PostgreSQL"
        h.stop_milter()


SCENARIOS = [scenario_concurrent, scenario_compare, scenario_tamper, scenario_seal,
             scenario_retention, scenario_migrate, scenario_milter]


def main() -> int:
    if not os.access(CLI, os.X_OK):
        log(f"FAIL: mugaika binary not found at {CLI} (set MUGAIKA_CLI)")
        return 1
    started = time.monotonic()
    base = Path(tempfile.mkdtemp(prefix="mugaika-e2e-pgtest."))
    os.chmod(base, 0o755)
    failures: list[str] = []
    pg = None
    try:
        try:
            pg = PgCluster()
        except (PgMissing, PgError) as e:
            log(f"FAIL: cannot start PostgreSQL: {e}")
            return 1
        for scenario in SCENARIOS:
            t0 = time.monotonic()
            try:
                scenario(pg, base)
                log(f"  ok ({time.monotonic() - t0:.1f}s)")
            except Exception as e:
                detail = "".join(traceback.format_exception(type(e), e, e.__traceback__)[-3:])
                log(f"  FAILED ({time.monotonic() - t0:.1f}s): {detail}")
                failures.append(f"{scenario.__name__}: {e}")
    finally:
        if pg is not None:
            try:
                pg.stop()
            except Exception as e:
                failures.append(f"stopping PostgreSQL: {e}")
        if os.environ.get("MUGAIKA_E2E_KEEP"):
            log(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
    log(f"{len(SCENARIOS) - len(failures)} of {len(SCENARIOS)} scenarios passed in "
        f"{time.monotonic() - started:.1f}s")
    for f in failures:
        log(f"FAILED {f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
