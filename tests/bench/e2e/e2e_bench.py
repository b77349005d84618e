#!/usr/bin/env python3
"""End-to-end throughput and latency of mugaika-milter in a private Postfix.

    python3 tests/bench/e2e/e2e_bench.py [--mails N] [--senders 10] [--quick] [--shm] [--nagle-ab]

A private Postfix (tests/e2e/mugaika_e2e.py) relays every mail to smtp-sink on a loopback port, so
delivery costs little and the same in every phase. SENDERS threads each keep one SMTP session and
send their share of a fixed mix (samples/mail plus generated text, HTML and attachment mail) back to
back. Phases, in one run, each on a fresh milter state dir:

  none        no milter (the reference)
  unix        mugaika-milter on a unix socket
  inet        mugaika-milter on inet:PORT@127.0.0.1
  unix-shm    (--shm) as unix, with the state dir on /dev/shm: separates fsync cost from CPU
  inet-nagle  (--nagle-ab) as inet, with TCP_NODELAY cleared on the milter's accepted sockets
              (what a plain libmilter does): shows what the milter's own setting is worth
  inet-pf-nodelay  (--nagle-ab) as inet, with TCP_NODELAY also set on Postfix's side of the
              milter connections (which Postfix never does): shows what Postfix's side costs
  inet-no-data-macros  (--nagle-ab) as inet, with Postfix's milter_data_macros emptied: tests
              whether the stall comes from the macro packet Postfix sends for the DATA stage
              although the milter negotiated SMFIP_NODATA (it is written without a reply)
The --nagle-ab phases change the socket options of live connections from outside (pidfd_getfd):
diagnostics, not a configuration anyone can deploy.

Per mail, latency is the time from MAIL FROM to the reply after the final dot. The Postfix queue
is drained between phases and smtp-sink's count must equal what Postfix accepted. Root only.
Exit status: 0 when every phase ran and every accepted mail reached the sink; the performance
targets are reported (PASS/MISS), enforced only with --check-targets.
"""

from __future__ import annotations

import argparse
import atexit
import ctypes
import email.policy
import glob
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from email.message import EmailMessage
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE_DIR = Path(os.environ.get("MUGAIKA_SOURCE_DIR") or HERE.parents[2])
sys.path.insert(0, str(SOURCE_DIR / "tests/e2e"))

import mugaika_e2e as e2e  # noqa: E402  (the shared harness; not edited here)

MAIL_FROM = "bench@example.com"
RCPT_TO = "staff@city.example.lg.jp"

# Targets from the issue.
TARGET_RATIO = 0.90        # milter throughput / no-milter throughput
TARGET_ADDED_P95_MS = 20.0  # added p95 latency on mail without CDR
TARGET_RSS_DRIFT = 0.10    # worker RSS change over the run


# --------------------------------------------------------------------------------------------
# Binaries and configuration

def pick_binaries() -> str:
    """Sets MUGAIKA_MILTER/MUGAIKA_CLI when unset: an optimized build first. Returns a label."""
    if not os.environ.get("MUGAIKA_MILTER"):
        for b in ("lead-rel", "default", "release", "lead"):
            p = SOURCE_DIR / "build" / b / "milter/mugaika-milter"
            if p.exists():
                os.environ["MUGAIKA_MILTER"] = str(p)
                cli = SOURCE_DIR / "build" / b / "gateway/mugaika"
                if cli.exists() and not os.environ.get("MUGAIKA_CLI"):
                    os.environ["MUGAIKA_CLI"] = str(cli)
                break
    milter = Path(os.environ.get("MUGAIKA_MILTER") or e2e.milter_binary())
    build_type = "?"
    for d in (milter.parent.parent, milter.parent.parent.parent):
        cache = d / "CMakeCache.txt"
        if cache.exists():
            m = re.search(r"^CMAKE_BUILD_TYPE:STRING=(.*)$", cache.read_text(errors="replace"), re.M)
            build_type = (m.group(1) if m else "") or "(none)"
            break
    return f"{milter} ({build_type})"


def milter_config(state_dir: Path, listen: str) -> str:
    """config/mugaika.toml as shipped, with the state dir, listen address and daemon names of the
    bench substituted. Falls back to the harness's make_config when the file's layout changed."""
    text = (SOURCE_DIR / "config/mugaika.toml").read_text()
    subs = [
        (r'(?m)^state_dir\s*=.*$', f'state_dir = "{state_dir}"'),
        (r'(?m)^listen\s*=.*$', f'listen = "{listen}"'),
        (r'(?m)^socket_mode\s*=.*$', 'socket_mode = "0666"'),
        (r'(?m)^inbound_daemons\s*=.*$', 'inbound_daemons = ["internet"]'),
        (r'(?m)^outbound_daemons\s*=.*$', 'outbound_daemons = ["lgwan"]'),
        (r'(?m)^database\s*=.*$',
         f'database = "{e2e.write_test_clamav_database(Path(state_dir).parent / "clamav")}"'),
    ]
    for pat, rep in subs:
        text, n = re.subn(pat, rep.replace("\\", "\\\\"), text, count=1)
        if n != 1:
            return e2e.make_config(state_dir, listen)
    return "# Written by tests/bench/e2e/e2e_bench.py from config/mugaika.toml\n" + text


def postfix_milter_spec(listen: str) -> str:
    """The milter's listen spec in Postfix's syntax."""
    if listen.startswith("inet:"):
        port, host = listen[5:].split("@")
        return f"inet:{host}:{port}"
    return listen


# --------------------------------------------------------------------------------------------
# The mail mix

WORDS = ("住民票 申請 手続き 窓口 予約 確認 お知らせ 会議 資料 添付 送付 予算 契約 点検 報告 "
         "schedule meeting invoice report review please attached update project city office "
         "the of and to in for with on budget request approval").split()


def _para(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _text(rng: random.Random, size: int) -> str:
    out, total = [], 0
    while total < size:
        p = _para(rng, rng.randint(20, 80))
        out.append(p)
        total += len(p.encode())
    return "\n\n".join(out)


def _html(rng: random.Random, size: int) -> str:
    rows, total = [], 0
    while total < size:
        kind = rng.randrange(4)
        if kind == 0:
            s = f'<p style="font-family:Meiryo;color:#333">{_para(rng, 40)} ' \
                f'<a href="https://example.com/{rng.randrange(10**6)}?utm=x">{_para(rng, 3)}</a></p>\n'
        elif kind == 1:
            cells = "".join(f"<td class=c{i}>{_para(rng, 4)}</td>" for i in range(5))
            s = f"<table border=1><tr>{cells}</tr><tr>{cells}</tr></table>\n"
        elif kind == 2:
            s = f"<div><ul>{''.join(f'<li>{_para(rng, 6)}</li>' for _ in range(6))}</ul></div>\n"
        else:
            s = (f'<script>var t{rng.randrange(999)}="{_para(rng, 5)}";</script>'
                 f'<img src="https://tracker.example.net/p.gif?id={rng.randrange(10**9)}">'
                 f"<!-- {_para(rng, 8)} -->\n")
        rows.append(s)
        total += len(s.encode())
    return ("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><style>p{margin:0}</style>"
            "</head><body>\n" + "".join(rows) + "</body></html>\n")


def _message(subject: str, mid: str) -> EmailMessage:
    m = EmailMessage(policy=email.policy.SMTP)
    m["From"] = "Sender <sender@example.com>"
    m["To"] = RCPT_TO
    m["Subject"] = subject
    m["Date"] = "Mon, 21 Apr 2025 10:00:00 +0900"
    m["Message-ID"] = mid
    return m


def generated_mails(rng: random.Random, per_kind: int) -> list[tuple[str, str, bytes]]:
    """(category, name, raw) for text, html and attachment mail, 5-200 KB each."""
    out = []
    for i in range(per_kind):
        m = _message(f"bench text {i} 会議のお知らせ", f"<bench-text-{i}@bench.example>")
        m.set_content(_text(rng, rng.randint(5_000, 60_000)))
        out.append(("text", f"gen-text-{i}", m.as_bytes()))

        m = _message(f"bench html {i} 資料送付", f"<bench-html-{i}@bench.example>")
        html = _html(rng, rng.randint(5_000, 150_000))
        m.set_content(_text(rng, 2_000))
        m.add_alternative(html, subtype="html")
        out.append(("html", f"gen-html-{i}", m.as_bytes()))

        m = _message(f"bench attachment {i} 添付資料", f"<bench-att-{i}@bench.example>")
        m.set_content(_text(rng, rng.randint(1_000, 8_000)))
        total = rng.randint(20_000, 140_000)  # base64 makes it ~4/3 on the wire
        n_att = rng.randint(1, 3)
        for k in range(n_att):
            kind = rng.randrange(3)
            size = total // n_att
            if kind == 0:
                data = b"%PDF-1.4\n" + rng.randbytes(size)
                m.add_attachment(data, maintype="application", subtype="pdf",
                                 filename=f"資料{k}.pdf")
            elif kind == 1:
                data = rng.randbytes(size)
                m.add_attachment(data, maintype="application", subtype="octet-stream",
                                 filename=f"data{k}.bin")
            else:
                data = b"\x89PNG\r\n\x1a\n" + rng.randbytes(size)
                m.add_attachment(data, maintype="image", subtype="png", filename=f"image{k}.png")
        out.append(("attachment", f"gen-att-{i}", m.as_bytes()))
    return out


def sample_mails() -> list[tuple[str, str, bytes]]:
    out = []
    for p in e2e.sample_mails():
        kind, _ = e2e.expected_for(p)
        if kind == "refused":
            continue
        out.append(("sample", p.name, p.read_bytes()))
    return out


def wire_form(raw: bytes) -> bytes:
    """DATA content: CRLF line ends, dot-stuffed, with the terminating dot line."""
    data = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    data = re.sub(rb"(?m)^\.", b"..", data)
    return data + b".\r\n"


def build_mix(seed: int = 20250421) -> list[tuple[str, str, bytes]]:
    rng = random.Random(seed)
    mix = sample_mails() + generated_mails(rng, 30)
    rng.shuffle(mix)
    return [(cat, name, wire_form(raw)) for cat, name, raw in mix]


# --------------------------------------------------------------------------------------------
# smtp-sink

class Sink:
    """smtp-sink on 127.0.0.1:PORT; .count() is the number of messages it received (its -c
    counter, "sess=N quit=N mesg=N")."""

    def __init__(self):
        self.port = e2e.free_port()
        self.proc = subprocess.Popen(
            ["smtp-sink", "-c", "-u", "nobody", f"127.0.0.1:{self.port}", "1000"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True)
        atexit.register(self.stop)
        self._mesg = 0
        self._tail = b""
        self._lock = threading.Lock()
        threading.Thread(target=self._reader, daemon=True).start()
        e2e.wait_for(lambda: e2e._port_open(self.port), 10, what="smtp-sink")

    def _reader(self) -> None:
        fd = self.proc.stdout.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            data = self._tail + chunk
            found = re.findall(rb"mesg=(\d+)", data)
            if found:
                with self._lock:
                    self._mesg = max(self._mesg, int(found[-1]))
            self._tail = data[-64:]

    def count(self) -> int:
        with self._lock:
            return self._mesg

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --------------------------------------------------------------------------------------------
# SMTP senders

class Session:
    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=300)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.expect(220)
        self.cmd(b"EHLO sender.bench.example", 250)

    def reply(self) -> tuple[int, bytes]:
        while True:
            i = self.buf.find(b"\r\n")
            while i >= 0:
                line, rest = self.buf[:i], self.buf[i + 2:]
                if len(line) < 4 or line[3:4] != b"-":
                    self.buf = rest
                    return int(line[:3]), line
                self.buf = rest
                i = self.buf.find(b"\r\n")
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("SMTP connection closed")
            self.buf += chunk

    def expect(self, ok: int) -> tuple[int, bytes]:
        code, line = self.reply()
        if code != ok:
            raise e2e.SmtpError("smtp", code, line.decode(errors="replace"))
        return code, line

    def cmd(self, line: bytes, ok: int) -> tuple[int, bytes]:
        self.sock.sendall(line + b"\r\n")
        return self.expect(ok)

    def send_mail(self, wire: bytes) -> tuple[int, str]:
        """One transaction; returns (final code, stage). Latency is measured by the caller."""
        self.sock.sendall(f"MAIL FROM:<{MAIL_FROM}>\r\n".encode())
        code, _ = self.reply()
        if code != 250:
            self.cmd(b"RSET", 250)
            return code, "mail"
        self.sock.sendall(f"RCPT TO:<{RCPT_TO}>\r\n".encode())
        code, _ = self.reply()
        if code != 250:
            self.cmd(b"RSET", 250)
            return code, "rcpt"
        self.sock.sendall(b"DATA\r\n")
        code, _ = self.reply()
        if code != 354:
            self.cmd(b"RSET", 250)
            return code, "data"
        self.sock.sendall(wire)
        code, _ = self.reply()
        return code, "dot"

    def close(self) -> None:
        try:
            self.sock.sendall(b"QUIT\r\n")
            self.reply()
        except (OSError, ConnectionError, ValueError):
            pass
        self.sock.close()


class Result:
    def __init__(self):
        self.lat: list[tuple[str, float]] = []   # (category, seconds) of accepted mail
        self.failed: list[tuple[str, int, str]] = []  # (name, code, stage)
        self.errors: list[str] = []


def run_senders(port: int, mix: list, n_mails: int, n_senders: int, start_index: int = 0,
                on_connected=None) -> tuple[Result, float]:
    """Sends N_MAILS mails of MIX over N_SENDERS sessions; returns (result, wall seconds).
    ON_CONNECTED() runs once every session is open, before the first mail."""
    result = Result()
    lock = threading.Lock()
    ready = threading.Barrier(n_senders + 1)
    go = threading.Barrier(n_senders + 1)
    sessions: list[Session | None] = [None] * n_senders

    def worker(k: int) -> None:
        try:
            sessions[k] = Session(port)
        except Exception as ex:  # noqa: BLE001
            with lock:
                result.errors.append(f"sender {k}: connect: {ex}")
        try:
            ready.wait()
            go.wait()
        except threading.BrokenBarrierError:
            return
        s = sessions[k]
        if s is None:
            return
        lat, failed = [], []
        for i in range(k, n_mails, n_senders):
            cat, name, wire = mix[(start_index + i) % len(mix)]
            t0 = time.perf_counter()
            try:
                code, stage = s.send_mail(wire)
            except Exception as ex:  # noqa: BLE001
                with lock:
                    result.errors.append(f"sender {k}: {name}: {ex}")
                try:
                    s.sock.close()
                    s = Session(port)
                except Exception:  # noqa: BLE001
                    break
                continue
            dt = time.perf_counter() - t0
            if code == 250:
                lat.append((cat, dt))
            else:
                failed.append((name, code, stage))
        s.close()
        with lock:
            result.lat += lat
            result.failed += failed

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(n_senders)]
    for t in threads:
        t.start()
    ready.wait()
    if on_connected is not None:
        on_connected()
    t0 = time.perf_counter()
    go.wait()
    for t in threads:
        t.join()
    return result, time.perf_counter() - t0


# --------------------------------------------------------------------------------------------
# /proc helpers

def rss_kb(pid: int) -> int | None:
    try:
        m = re.search(r"^VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
        return int(m.group(1)) if m else None
    except OSError:
        return None


def cpu_seconds(pid: int) -> float:
    """utime+stime of PID (all threads)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def system_cpu() -> tuple[float, float, float]:
    """(busy, iowait, total) jiffies from /proc/stat."""
    f = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle, iowait = f[3], f[4]
    total = sum(f[:8])
    return total - idle - iowait, iowait, total


def postfix_cpu(conf: Path) -> float:
    return sum(cpu_seconds(p) for p in e2e._procs_with_env("MAIL_CONFIG", str(conf)))


class RssMonitor:
    def __init__(self, pid: int, interval: float = 0.25):
        self.pid, self.interval = pid, interval
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            r = rss_kb(self.pid)
            if r:
                self.samples.append(r)
            self._stop.wait(self.interval)

    def stop(self) -> int:
        self._stop.set()
        self._t.join()
        return max(self.samples) if self.samples else 0


# -- socket inspection (TCP_NODELAY on each side of the milter connections)

_libc = ctypes.CDLL(None, use_errno=True)
SYS_pidfd_open, SYS_pidfd_getfd = 434, 438


def _socket_inodes(pid: int) -> dict[int, int]:
    """inode -> fd number of PID's sockets."""
    out = {}
    for fd in glob.glob(f"/proc/{pid}/fd/*"):
        try:
            link = os.readlink(fd)
        except OSError:
            continue
        m = re.match(r"socket:\[(\d+)\]", link)
        if m:
            out[int(m.group(1))] = int(fd.rsplit("/", 1)[1])
    return out


def _tcp_conns(port: int) -> tuple[set[int], set[int]]:
    """(inodes whose local port is PORT, inodes whose remote port is PORT), ESTABLISHED only."""
    local, remote = set(), set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        f = line.split()
        if f[3] != "01":
            continue
        lport = int(f[1].split(":")[1], 16)
        rport = int(f[2].split(":")[1], 16)
        inode = int(f[9])
        if lport == port:
            local.add(inode)
        if rport == port:
            remote.add(inode)
    return local, remote


def _steal_fd(pid: int, fd: int) -> int | None:
    pidfd = _libc.syscall(SYS_pidfd_open, pid, 0)
    if pidfd < 0:
        return None
    try:
        dup = _libc.syscall(SYS_pidfd_getfd, pidfd, fd, 0)
        return dup if dup >= 0 else None
    finally:
        os.close(pidfd)


def milter_sockets(worker: int, conf: Path, port: int) -> tuple[list, list]:
    """Duplicates of the TCP sockets of the milter connections: (milter side, Postfix side).
    Each entry is a socket.socket sharing the original's options."""
    local, remote = _tcp_conns(port)
    mside, pside = [], []
    for ino, fd in _socket_inodes(worker).items():
        if ino in local:
            d = _steal_fd(worker, fd)
            if d is not None:
                mside.append(socket.socket(fileno=d))
    for pid in e2e._procs_with_env("MAIL_CONFIG", str(conf)):
        for ino, fd in _socket_inodes(pid).items():
            if ino in remote:
                d = _steal_fd(pid, fd)
                if d is not None:
                    pside.append(socket.socket(fileno=d))
    return mside, pside


def nodelay_summary(socks: list) -> str:
    vals = [s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in socks]
    return f"{sum(1 for v in vals if v)}/{len(vals)} with TCP_NODELAY"


# --------------------------------------------------------------------------------------------
# Statistics and printing

def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


BUCKETS_MS = (5, 10, 20, 30, 40, 50, 80, 100, 200, 500)


def histogram(values_ms: list[float]) -> str:
    counts = [0] * (len(BUCKETS_MS) + 1)
    for v in values_ms:
        for i, b in enumerate(BUCKETS_MS):
            if v < b:
                counts[i] += 1
                break
        else:
            counts[-1] += 1
    labels = [f"<{b}" for b in BUCKETS_MS] + [f">={BUCKETS_MS[-1]}"]
    return " ".join(f"{l}:{c}" for l, c in zip(labels, counts))


class PhaseStats:
    def __init__(self, name: str):
        self.name = name
        self.sent = 0
        self.accepted = 0
        self.failed: list = []
        self.errors: list = []
        self.wall = 0.0
        self.drain = 0.0
        self.lat_ms: list[float] = []
        self.by_cat: dict[str, list[float]] = {}
        self.rss_start = self.rss_end = self.rss_max = None
        self.milter_cpu = 0.0
        self.postfix_cpu = 0.0
        self.sys_busy = 0.0
        self.sys_iowait = 0.0
        self.notes: list[str] = []

    @property
    def rate(self) -> float:
        return self.accepted / self.wall if self.wall else 0.0

    def p(self, q: float, cat: str | None = None) -> float:
        return pct(self.lat_ms if cat is None else self.by_cat.get(cat, []), q)


def report(ph: PhaseStats, ref: PhaseStats | None) -> list[str]:
    lines = [f"e2e: {ph.name}: {ph.accepted} mails, {ph.rate:.1f} msg/s, "
             f"p50 {ph.p(50):.1f} ms, p95 {ph.p(95):.1f} ms"]
    detail = (f"e2e: {ph.name}:   sent {ph.sent}, refused {len(ph.failed)}, errors {len(ph.errors)}, "
              f"wall {ph.wall:.1f} s, drain after {ph.drain:.1f} s, "
              f"CPU busy {ph.sys_busy:.0%} iowait {ph.sys_iowait:.0%} of {os.cpu_count()} cores")
    lines.append(detail)
    cats = " ".join(f"{c} p50/p95 {ph.p(50, c):.1f}/{ph.p(95, c):.1f}"
                    for c in sorted(ph.by_cat))
    lines.append(f"e2e: {ph.name}:   by kind (ms): {cats}")
    lines.append(f"e2e: {ph.name}:   latency histogram (ms): {histogram(ph.lat_ms)}")
    cpu = f"Postfix CPU {1000 * ph.postfix_cpu / max(ph.accepted, 1):.1f} ms/mail"
    if ref is not None:
        ratio = ph.rate / ref.rate if ref.rate else 0.0
        lines.append(f"e2e: {ph.name}:   ratio to none {ratio:.2f} "
                     f"({'PASS' if ratio >= TARGET_RATIO else 'MISS'} >= {TARGET_RATIO:.2f}), "
                     f"added p50 {ph.p(50) - ref.p(50):+.1f} ms, "
                     f"added p95 {ph.p(95) - ref.p(95):+.1f} ms "
                     f"({'PASS' if ph.p(95) - ref.p(95) < TARGET_ADDED_P95_MS else 'MISS'} "
                     f"< {TARGET_ADDED_P95_MS:.0f} ms)")
        if ph.rss_start:
            drift = (ph.rss_end - ph.rss_start) / ph.rss_start
            lines.append(f"e2e: {ph.name}:   worker RSS start {ph.rss_start / 1024:.1f} MiB, "
                         f"end {ph.rss_end / 1024:.1f} MiB ({drift:+.1%}, "
                         f"{'PASS' if abs(drift) <= TARGET_RSS_DRIFT else 'MISS'} within "
                         f"{TARGET_RSS_DRIFT:.0%}), max {ph.rss_max / 1024:.1f} MiB")
        cpu = (f"milter CPU {1000 * ph.milter_cpu / max(ph.accepted, 1):.1f} ms/mail, " + cpu)
    lines.append(f"e2e: {ph.name}:   {cpu}")
    for n in ph.notes:
        lines.append(f"e2e: {ph.name}:   {n}")
    for name, code, stage in ph.failed[:5]:
        lines.append(f"e2e: {ph.name}:   refused: {name}: {code} at {stage}")
    for e in ph.errors[:5]:
        lines.append(f"e2e: {ph.name}:   error: {e}")
    return lines


# --------------------------------------------------------------------------------------------
# The run

class Bench:
    def __init__(self, args):
        self.args = args
        self.mix = build_mix()
        self.h = e2e.Harness(with_milter=False)
        self.sink = None
        self.sink_expected = 0
        self.index = 0
        try:
            self.sink = Sink()
            # Relay everything to smtp-sink instead of the Maildir.
            self.h.postfix.postconf("virtual_mailbox_domains=",
                                    f"relayhost=[127.0.0.1]:{self.sink.port}",
                                    "default_destination_concurrency_limit=20",
                                    "smtp_destination_concurrency_limit=20")
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        try:
            if self.sink is not None:
                self.sink.stop()
        finally:
            self.h.close()

    def drain(self, timeout: float = 600.0) -> float:
        t0 = time.perf_counter()
        self.h.postfix.wait_drained(timeout)
        e2e.wait_for(lambda: self.sink.count() >= self.sink_expected, 60, interval=0.1,
                     what=f"smtp-sink to count {self.sink_expected} mails "
                          f"(has {self.sink.count()})")
        time.sleep(0.3)  # a late duplicate would show here
        return time.perf_counter() - t0

    def send(self, n: int, on_connected=None) -> tuple[Result, float]:
        res, wall = run_senders(self.h.internet_port, self.mix, n, self.args.senders,
                                start_index=self.index, on_connected=on_connected)
        self.index += n
        self.sink_expected += len(res.lat)
        return res, wall

    def phase(self, name: str, listen: str | None, state_dir: Path | None = None,
              nagle: str = "") -> PhaseStats:
        ph = PhaseStats(name)
        milter = None
        if listen is not None:
            milter = e2e.Milter(self.h.base, listen)
            self.h.milter = milter  # the harness stops it on exit
            milter.start(milter_config(state_dir, listen))
            if nagle == "no-data-macros":
                self.h.postfix.postconf("milter_data_macros=")
            self.h.postfix.set_milters(postfix_milter_spec(listen))
        else:
            self.h.postfix.set_milters("")
        try:
            # Warm-up: the first mails pay for lazy initialisation (libmagic, GMime, SQLite).
            res, _ = self.send(self.args.warmup)
            if res.errors or len(res.lat) < self.args.warmup * 0.5:
                raise RuntimeError(f"{name}: warm-up failed: {res.errors[:3]} {res.failed[:3]}")
            self.drain()
            worker = milter.worker_pid() if milter else None
            if worker:
                ph.rss_start = rss_kb(worker)
            mon = RssMonitor(worker) if worker else None
            cpu_m0 = cpu_seconds(worker) if worker else 0.0
            cpu_p0 = postfix_cpu(self.h.postfix.conf)
            sys0 = system_cpu()
            hook = None
            if listen is not None and listen.startswith("inet:"):
                port = int(listen[5:].split("@")[0])

                def hook():
                    mside, pside = milter_sockets(worker, self.h.postfix.conf, port)
                    before = (f"milter side {nodelay_summary(mside)}, "
                              f"Postfix side {nodelay_summary(pside)}")
                    if nagle == "milter-off":
                        for s in mside:
                            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)
                    elif nagle == "postfix-on":
                        for s in pside:
                            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    note = f"milter connections as opened: {before}"
                    if nagle:
                        note += (f"; for this phase set to: milter side {nodelay_summary(mside)}, "
                                 f"Postfix side {nodelay_summary(pside)}")
                    ph.notes.append(note)
                    for s in mside + pside:
                        s.close()  # a duplicate: the original stays open
            res, ph.wall = self.send(self.args.mails, on_connected=hook)
            sys1 = system_cpu()
            ph.notes.append(f"load average after the run: "
                            f"{' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
            ph.drain = self.drain()
            ph.milter_cpu = (cpu_seconds(worker) - cpu_m0) if worker else 0.0
            ph.postfix_cpu = postfix_cpu(self.h.postfix.conf) - cpu_p0
            dt = sys1[2] - sys0[2]
            ph.sys_busy = (sys1[0] - sys0[0]) / dt if dt else 0.0
            ph.sys_iowait = (sys1[1] - sys0[1]) / dt if dt else 0.0
            if worker:
                ph.rss_end = rss_kb(worker)
                ph.rss_max = mon.stop()
                sm = mon.samples
                if sm:
                    marks = [sm[min(len(sm) - 1, len(sm) * q // 4)] for q in (1, 2, 3)]
                    ph.notes.append("worker RSS at 25/50/75% of the run: "
                                    + ", ".join(f"{v / 1024:.1f}" for v in marks) + " MiB")
                    k = max(1, len(sm) // 10)
                    first, last = statistics.median(sm[:k]), statistics.median(sm[-k:])
                    ph.notes.append(f"worker RSS under load, median of the first / last 10% of "
                                    f"the run: {first / 1024:.1f} / {last / 1024:.1f} MiB "
                                    f"({(last - first) / first:+.1%})")
                if milter.worker_pid() != worker:
                    ph.notes.append(f"worker restarted during the phase ({worker} -> "
                                    f"{milter.worker_pid()})")
            ph.sent = self.args.mails
            ph.accepted = len(res.lat)
            ph.failed, ph.errors = res.failed, res.errors
            ph.lat_ms = [1000 * d for _, d in res.lat]
            for cat, d in res.lat:
                ph.by_cat.setdefault(cat, []).append(1000 * d)
            if self.sink.count() != self.sink_expected:
                ph.errors.append(f"smtp-sink counted {self.sink.count()}, expected "
                                 f"{self.sink_expected}")
        finally:
            if nagle == "no-data-macros":
                self.h.postfix.postconf("milter_data_macros=i")
            if milter is not None:
                self.h.postfix.set_milters("")
                milter.stop()
        return ph


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mails", type=int, default=3000, help="mails per phase (default 3000)")
    ap.add_argument("--senders", type=int, default=10, help="parallel SMTP sessions (default 10)")
    ap.add_argument("--warmup", type=int, default=100, help="warm-up mails per phase (default 100)")
    ap.add_argument("--quick", action="store_true", help="100 mails per phase, 20 warm-up (ctest)")
    ap.add_argument("--shm", action="store_true",
                    help="extra phase unix-shm: state dir on /dev/shm (no disk fsync)")
    ap.add_argument("--nagle-ab", action="store_true",
                    help="extra phase inet-nagle: TCP_NODELAY cleared on the milter's sockets")
    ap.add_argument("--only", metavar="PHASES",
                    help="comma-separated phases to run besides none (e.g. inet,inet-nagle)")
    ap.add_argument("--check-targets", action="store_true",
                    help="exit 1 when a target (ratio, added p95, RSS drift) is missed")
    args = ap.parse_args()
    if args.quick:
        args.mails, args.warmup = 100, 20
    e2e.require_root()
    for tool in ("smtp-sink", "postfix"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            print(f"e2e: {tool} not found (apt-get install postfix)", file=sys.stderr)
            return 1
    binary = pick_binaries()
    bench = Bench(args)
    print(f"e2e: milter {binary}", flush=True)
    sizes = sorted(len(w) for _, _, w in bench.mix)
    cats = {}
    for c, _, _ in bench.mix:
        cats[c] = cats.get(c, 0) + 1
    print(f"e2e: mix of {len(bench.mix)} mails ({', '.join(f'{v} {k}' for k, v in sorted(cats.items()))}), "
          f"median {sizes[len(sizes) // 2] // 1024} KiB, max {sizes[-1] // 1024} KiB; "
          f"{args.mails} mails per phase over {args.senders} sessions after {args.warmup} warm-up; "
          f"Postfix relays to smtp-sink 127.0.0.1:{bench.sink.port}", flush=True)
    shm_dir = None
    phases: list[PhaseStats] = []
    ok = True
    try:
        unix = f"unix:{bench.h.base}/milter.sock"
        plan = [("none", None, None, ""),  # the reference: first
                ("unix", unix, bench.h.base / "state-unix", ""),
                ("inet", f"inet:{e2e.free_port()}@127.0.0.1", bench.h.base / "state-inet", "")]
        if args.shm:
            shm_dir = Path(tempfile.mkdtemp(prefix="mugaika-bench.", dir="/dev/shm"))
            plan.append(("unix-shm", unix, shm_dir / "state", ""))
        if args.nagle_ab:
            plan.append(("inet-nagle", f"inet:{e2e.free_port()}@127.0.0.1",
                         bench.h.base / "state-inet-nagle", "milter-off"))
            plan.append(("inet-pf-nodelay", f"inet:{e2e.free_port()}@127.0.0.1",
                         bench.h.base / "state-inet-pf", "postfix-on"))
            plan.append(("inet-no-data-macros", f"inet:{e2e.free_port()}@127.0.0.1",
                         bench.h.base / "state-inet-ndm", "no-data-macros"))
        if args.only:
            keep = set(args.only.split(",")) | {"none"}
            plan = [p for p in plan if p[0] in keep]
        ref = None
        for name, listen, state, nagle in plan:
            ph = bench.phase(name, listen, state, nagle)
            phases.append(ph)
            if ref is None:
                ref = ph
            for line in report(ph, None if ph is ref else ref):
                print(line, flush=True)
            if ph.errors or ph.accepted == 0:
                ok = False
    except Exception as ex:  # noqa: BLE001
        print(f"e2e: FAILED: {ex}", file=sys.stderr)
        print(bench.h.diagnostics(), file=sys.stderr)
        ok = False
    finally:
        bench.close()
        if shm_dir is not None:
            shutil.rmtree(shm_dir, ignore_errors=True)
    if ok and args.check_targets and len(phases) > 1:
        ref = phases[0]
        for ph in phases[1:]:
            if ph.name in ("inet-nagle", "inet-pf-nodelay", "inet-no-data-macros"):
                continue
            drift = abs(ph.rss_end - ph.rss_start) / ph.rss_start if ph.rss_start else 0
            if (ph.rate / ref.rate < TARGET_RATIO or ph.p(95) - ref.p(95) >= TARGET_ADDED_P95_MS
                    or drift > TARGET_RSS_DRIFT):
                ok = False
    print(f"e2e: {'OK' if ok else 'FAILED'}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
