"""End-to-end harness for mugaika: a private Postfix instance plus mugaika-milter.

Python 3 standard library only. Must run as root (Postfix's `postfix -c DIR start`).

    from mugaika_e2e import Harness
    with Harness() as h:                      # private Postfix started, nothing else touched
        h.start_milter(h.milter_config())     # mugaika-milter --foreground on h.milter_socket
        code, reply = h.send(mail_bytes, h.internet_port, "a@example.jp", ["b@city.example.lg.jp"])
        h.wait_drained()
        for m in h.delivered(): ...

Reusable pieces (also for tests/bench/e2e):
  * PostfixInstance: a private Postfix (own config dir, queue, Maildir sink, maillog) with two
    smtpd services, "internet" and "lgwan", each setting {daemon_name} through
    milter_macro_daemon_name, and a third, "release", without milters: the relay that
    `mugaika quarantine approve` delivers released originals through ([release] relay). Never touches the system Postfix: every command gets `-c DIR`,
    leftovers are found by MAIL_CONFIG=DIR in /proc/*/environ, never by name.
  * Milter: runs mugaika-milter in the foreground (stderr to a log file), finds its worker child,
    reloads (SIGHUP), kills the worker, stops it (SIGTERM).
  * Harness: both, sharing one temporary directory, cleaned up by the context manager, by atexit
    and by SIGTERM/SIGINT handlers. A later run also cleans up what a killed run left behind.
  * Clamd: Debian's clamd in the foreground with a clamd.conf of its own (unix socket in a
    directory of the test, its own database, no TCP), for [antivirus] mode = "clamd". Never the
    system's clamav-daemon service.

Environment:
  MUGAIKA_MILTER      path of mugaika-milter (default build/default/milter/mugaika-milter)
  MUGAIKA_CLI         path of the mugaika command (default build/default/gateway/mugaika)
  MUGAIKA_SOURCE_DIR  the repository (default: two levels above this file)
  MUGAIKA_E2E_KEEP=1  keep the temporary directory (processes are still stopped)
  MUGAIKA_E2E_MILTER_SOCKET=inet  use inet:PORT@127.0.0.1 instead of a unix socket
"""

from __future__ import annotations

import atexit
import email
import email.policy
import glob
import json
import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TMP_PREFIX = "mugaika-e2e."
SINK_UID = 65534  # nobody
SINK_GID = 65534  # nogroup

SOURCE_DIR = Path(os.environ.get("MUGAIKA_SOURCE_DIR") or Path(__file__).resolve().parents[2])


def milter_binary() -> Path:
    return Path(os.environ.get("MUGAIKA_MILTER") or SOURCE_DIR / "build/default/milter/mugaika-milter")


def cli_binary() -> Path:
    return Path(os.environ.get("MUGAIKA_CLI") or SOURCE_DIR / "build/default/gateway/mugaika")


def require_root() -> None:
    if os.geteuid() != 0:
        sys.stderr.write(
            "e2e tests must run as root: they start a private Postfix instance "
            "(`postfix -c DIR start`) and a milter. Run `sudo ctest -L e2e` from the build dir.\n")
        sys.exit(1)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _procs_with_env(key: str, value: str) -> list[int]:
    """PIDs whose environment holds KEY=VALUE exactly."""
    needle = f"{key}={value}".encode()
    out = []
    for env_path in glob.glob("/proc/[0-9]*/environ"):
        try:
            with open(env_path, "rb") as f:
                entries = f.read().split(b"\0")
        except OSError:
            continue
        if needle in entries:
            pid = int(env_path.split("/")[2])
            if pid != os.getpid():
                out.append(pid)
    return out


def children_of(pid: int) -> list[int]:
    """Direct children of PID (any of its threads)."""
    kids: list[int] = []
    for task in glob.glob(f"/proc/{pid}/task/*/children"):
        try:
            kids += [int(x) for x in Path(task).read_text().split()]
        except OSError:
            pass
    return sorted(set(kids))


def descendants_of(pid: int) -> list[int]:
    out: list[int] = []
    todo = [pid]
    while todo:
        for c in children_of(todo.pop()):
            if c not in out:
                out.append(c)
                todo.append(c)
    return out


def wait_for(predicate, timeout: float, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def tail(path: Path, lines: int = 40) -> str:
    try:
        data = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return f"({path} not readable)"
    return "\n".join(data[-lines:])


class SmtpError(Exception):
    """An SMTP reply that is not 2xx/3xx. stage: connect, ehlo, mail, rcpt, data."""

    def __init__(self, stage: str, code: int, message: str):
        super().__init__(f"SMTP {code} at {stage}: {message}")
        self.stage = stage
        self.code = code
        self.message = message


def _decode(msg) -> str:
    return msg.decode("utf-8", "replace") if isinstance(msg, bytes) else str(msg)


def smtp_send(mail: bytes, port: int, mail_from: str, rcpts: list[str], host: str = "127.0.0.1",
              timeout: float = 120.0, helo: str = "client.example.jp") -> tuple[int, str]:
    """Send one message in one SMTP session. Returns (code, text) of the reply to the end of DATA.
    Raises SmtpError for any 4xx/5xx reply (its .stage says where). The message bytes are sent as
    they are (smtplib only dot-stuffs and adds a final CRLF when the data does not end in one)."""
    try:
        s = smtplib.SMTP(host, port, local_hostname=helo, timeout=timeout)
    except smtplib.SMTPConnectError as e:
        raise SmtpError("connect", e.smtp_code, _decode(e.smtp_error)) from None
    try:
        code, msg = s.ehlo()
        if code != 250:
            raise SmtpError("ehlo", code, _decode(msg))
        code, msg = s.mail(mail_from)
        if code != 250:
            raise SmtpError("mail", code, _decode(msg))
        for r in rcpts:
            code, msg = s.rcpt(r)
            if code not in (250, 251):
                raise SmtpError("rcpt", code, _decode(msg))
        try:
            code, msg = s.data(mail)
        except smtplib.SMTPDataError as e:  # refused the DATA command itself
            raise SmtpError("data", e.smtp_code, _decode(e.smtp_error)) from None
        if code != 250:
            raise SmtpError("data", code, _decode(msg))
        return code, _decode(msg)
    finally:
        try:
            s.quit()
        except Exception:
            s.close()


class RawSmtp:
    """A hand-driven SMTP session over a socket, for sending DATA in pieces."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 120.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        self.expect("connect", 220)

    def read_reply(self) -> tuple[int, str]:
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("connection closed; got so far: %r" % (lines,))
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line.decode("utf-8", "replace"))
            if len(line) < 4 or line[3:4] != b"-":
                break
        return int(lines[-1][:3]), "\n".join(l[4:] for l in lines)

    def command(self, stage: str, line: str, ok: int) -> tuple[int, str]:
        self.sock.sendall(line.encode() + b"\r\n")
        return self.expect(stage, ok)

    def expect(self, stage: str, ok: int) -> tuple[int, str]:
        code, msg = self.read_reply()
        if code != ok:
            raise SmtpError(stage, code, msg)
        return code, msg

    @staticmethod
    def stuff(data: bytes) -> bytes:
        """Dot-stuff DATA content (CRLF line ends expected)."""
        data = re.sub(rb"(?m)^\.", b"..", data)
        return data

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


# --------------------------------------------------------------------------------------------
# Postfix

MAIN_CF = """\
# Private Postfix instance written by tests/e2e/mugaika_e2e.py. Never the system one.
compatibility_level = 3.6
config_directory = {conf}
queue_directory = {queue}
data_directory = {data}
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.e2e.mugaika.test
mydomain = e2e.mugaika.test
myorigin = $myhostname
mydestination =
relay_domains =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
biff = no
append_dot_mydomain = no
alias_maps =
alias_database =
local_recipient_maps =
# The milter must see the headers exactly as the client sent them: no canonicalization or added
# headers for clients on 127.0.0.1 (the default would treat them as local submissions).
local_header_rewrite_clients =
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_recipient_restrictions = permit_mynetworks, reject
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 1000
smtpd_hard_error_limit = 1000
smtpd_client_connection_rate_limit = 0
in_flow_delay = 0
message_size_limit = {message_size_limit}
# Postfix's default (102400) silently discards the excess of a larger header before any milter
# sees it. Raised, but note: with smtpd_milters set, Postfix 3.7 still cuts every header field to
# about 60000 bytes (measured; without a milter the same field arrives whole), so a header over
# that never reaches the milter whole (samples/mail/39-oversized-header.eml, see test_samples).
header_size_limit = 4194304
virtual_mailbox_limit = 0
mailbox_size_limit = 0
# Sink: every recipient of every domain goes to one Maildir owned by nobody.
virtual_mailbox_domains = static:all
virtual_mailbox_base = {mail}
virtual_mailbox_maps = static:sink/
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
virtual_minimum_uid = 1
# Queue retries quickly so that a test does not wait minutes for a deferred message.
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 5s
delay_warning_time = 0h
# Milter.
smtpd_milters = {milters}
non_smtpd_milters =
milter_default_action = tempfail
milter_protocol = 6
milter_connect_timeout = 10s
milter_command_timeout = 30s
milter_content_timeout = 120s
# Logging: no syslog in these containers.
maillog_file = {maillog}
maillog_file_prefixes = {base}
"""

MASTER_CF = """\
# service type private unpriv chroot wakeup maxproc command
127.0.0.1:{internet_port} inet n - n - - smtpd
  -o syslog_name=postfix/internet
  -o milter_macro_daemon_name=internet
127.0.0.1:{lgwan_port} inet n - n - - smtpd
  -o syslog_name=postfix/lgwan
  -o milter_macro_daemon_name=lgwan
127.0.0.1:{release_port} inet n - n - - smtpd
  -o syslog_name=postfix/release
  -o smtpd_milters=
  -o non_smtpd_milters=
  -o smtpd_client_restrictions=permit_mynetworks,reject
pickup     unix  n - n 60 1 pickup
cleanup    unix  n - n -  0 cleanup
qmgr       unix  n - n 300 1 qmgr
rewrite    unix  - - n -  - trivial-rewrite
bounce     unix  - - n -  0 bounce
defer      unix  - - n -  0 bounce
trace      unix  - - n -  0 bounce
verify     unix  - - n -  1 verify
flush      unix  n - n 1000? 0 flush
proxymap   unix  - - n -  - proxymap
proxywrite unix  - - n -  1 proxymap
smtp       unix  - - n -  - smtp
relay      unix  - - n -  - smtp
showq      unix  n - n -  - showq
error      unix  - - n -  - error
retry      unix  - - n -  - error
discard    unix  - - n -  - discard
local      unix  - n n -  - local
virtual    unix  - n n -  - virtual
anvil      unix  - - n -  1 anvil
scache     unix  - - n -  1 scache
postlog    unix-dgram n - n - 1 postlogd
"""

QUEUE_DIRS = ("maildrop", "incoming", "active", "deferred")


class PostfixInstance:
    """A private Postfix under BASE/postfix (config), BASE/queue, BASE/mail/sink (Maildir)."""

    def __init__(self, base: Path, milters: str = "", message_size_limit: int = 20 * 1024 * 1024):
        self.base = Path(base)
        self.conf = self.base / "postfix"
        self.queue = self.base / "queue"
        self.data = self.base / "data"
        self.mail = self.base / "mail"
        self.maillog = self.base / "maillog"
        self.maildir = self.mail / "sink"
        self.internet_port = free_port()
        self.lgwan_port = free_port()
        while self.lgwan_port == self.internet_port:
            self.lgwan_port = free_port()
        self.release_port = free_port()
        while self.release_port in (self.internet_port, self.lgwan_port):
            self.release_port = free_port()
        self.milters = milters
        self.message_size_limit = message_size_limit
        self.running = False

    # -- configuration

    def write_config(self) -> None:
        for d in (self.conf, self.queue, self.data, self.mail):
            d.mkdir(parents=True, exist_ok=True)
            os.chmod(d, 0o755)
        os.chown(self.mail, SINK_UID, SINK_GID)
        os.chown(self.data, _postfix_uid(), 0)
        (self.conf / "main.cf").write_text(MAIN_CF.format(
            conf=self.conf, queue=self.queue, data=self.data, mail=self.mail,
            maillog=self.maillog, base=self.base, uid=SINK_UID, gid=SINK_GID,
            milters=self.milters, message_size_limit=self.message_size_limit))
        (self.conf / "master.cf").write_text(MASTER_CF.format(
            internet_port=self.internet_port, lgwan_port=self.lgwan_port,
            release_port=self.release_port))

    def postfix(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self._run(["postfix", "-c", str(self.conf), *args], check)

    def postconf(self, *settings: str) -> None:
        """Change main.cf settings (NAME=VALUE) and reload the running instance."""
        self._run(["postconf", "-c", str(self.conf), "-e", *settings], True)
        if self.running:
            self.postfix("reload")
            time.sleep(0.5)

    def set_milters(self, value: str) -> None:
        self.milters = value
        self.postconf(f"smtpd_milters={value}")

    def _run(self, cmd: list[str], check: bool) -> subprocess.CompletedProcess:
        env = dict(os.environ, MAIL_CONFIG=str(self.conf))
        p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=120)
        if check and p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout}\n"
                               f"maillog:\n{tail(self.maillog)}")
        return p

    # -- life cycle

    def start(self) -> None:
        self.write_config()
        self.postfix("check")
        self.postfix("start")
        self.running = True
        # Wait until every smtpd service answers.
        for port in (self.internet_port, self.lgwan_port, self.release_port):
            wait_for(lambda: _port_open(port), 20, what=f"Postfix smtpd on 127.0.0.1:{port}")

    def master_pid(self) -> int | None:
        try:
            return int((self.queue / "pid/master.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        if self.conf.exists():
            self._run(["postfix", "-c", str(self.conf), "stop"], False)
            pid = self.master_pid()
            if pid:
                try:
                    wait_for(lambda: not _pid_alive(pid), 15, what="Postfix master to exit")
                except TimeoutError:
                    pass
        kill_mail_config(self.conf)
        self.running = False

    # -- queue and delivery

    def queue_files(self) -> dict[str, int]:
        out = {}
        for d in QUEUE_DIRS + ("hold",):
            n = 0
            for _root, _dirs, files in os.walk(self.queue / d):
                n += len(files)
            out[d] = n
        return out

    def flush(self) -> None:
        self._run(["postqueue", "-c", str(self.conf), "-f"], False)

    def wait_drained(self, timeout: float = 60.0) -> None:
        """Wait until maildrop, incoming, active and deferred are empty (hold is not counted:
        it only fills when a milter quarantines). Deferred mail is flushed every 2 s."""
        deadline = time.monotonic() + timeout
        last_flush = 0.0
        while True:
            q = self.queue_files()
            if all(q[d] == 0 for d in QUEUE_DIRS):
                return
            now = time.monotonic()
            if q["deferred"] and now - last_flush > 2:
                self.flush()
                last_flush = now
            if now > deadline:
                raise TimeoutError(f"Postfix queue not drained after {timeout:.0f}s: {q}\n"
                                   f"maillog:\n{tail(self.maillog)}")
            time.sleep(0.1)

    def delivered(self) -> list["Delivered"]:
        """Messages in the sink Maildir (new/ and cur/), oldest first."""
        files = []
        for sub in ("new", "cur"):
            files += [p for p in (self.maildir / sub).glob("*") if p.is_file()]
        files.sort(key=lambda p: (p.stat().st_mtime, p.name))
        return [Delivered(p) for p in files]

    def clear_maildir(self) -> None:
        for sub in ("new", "cur", "tmp"):
            for p in (self.maildir / sub).glob("*"):
                p.unlink()

    def maillog_text(self) -> str:
        try:
            return self.maillog.read_text(errors="replace")
        except OSError:
            return ""


class Delivered:
    """One delivered message. raw: the file bytes (virtual(8) writes LF line ends and prepends
    Return-Path and Delivered-To). msg: parsed with email.policy.default."""

    def __init__(self, path: Path):
        self.path = path
        self.raw = path.read_bytes()
        self.msg = email.message_from_bytes(self.raw, policy=email.policy.default)

    @property
    def message_id(self) -> str:
        return str(self.msg.get("Message-ID", "")).strip()

    def header(self, name: str) -> str:
        v = self.msg.get(name)
        return "" if v is None else str(v)

    def leaves(self):
        return [p for p in self.msg.walk() if not p.is_multipart()]

    def text(self) -> str:
        """Decoded text of the body: the text leaves that are not rebuilt attachments."""
        return "\n".join(p.get_content() for p in self.leaves()
                         if p.get_content_maintype() == "text" and not p.get("X-Mugaika-CDR"))

    def rebuilt(self) -> list:
        """The leaves a CDR engine rebuilt (X-Mugaika-CDR), in order."""
        return [p for p in self.leaves() if p.get("X-Mugaika-CDR")]

    def header_block(self) -> bytes:
        return self.raw.split(b"\n\n", 1)[0]

    def __repr__(self) -> str:
        return f"<Delivered {self.path.name} {self.message_id}>"


def _postfix_uid() -> int:
    import pwd
    return pwd.getpwnam("postfix").pw_uid


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=1) as s:
            s.recv(1)  # the 220 greeting (or at least an open connection)
        return True
    except OSError:
        return False


def kill_mail_config(conf: Path) -> list[int]:
    """Kill every process whose environment has MAIL_CONFIG=CONF (leftovers of one instance)."""
    pids = _procs_with_env("MAIL_CONFIG", str(conf))
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return pids


# --------------------------------------------------------------------------------------------
# Milter

class Milter:
    """mugaika-milter in the foreground; stderr goes to LOG."""

    def __init__(self, base: Path, socket_spec: str):
        self.base = Path(base)
        self.socket_spec = socket_spec  # "unix:/path" or "inet:PORT@127.0.0.1"
        self.config_path = self.base / "mugaika.toml"
        self.log_path = self.base / "milter.log"
        self.proc: subprocess.Popen | None = None
        self.known_pids: set[int] = set()
        self.exit_code: int | None = None

    def write_config(self, text: str) -> None:
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, self.config_path)

    def start(self, config_text: str | None = None, timeout: float = 20.0) -> None:
        if config_text is not None:
            self.write_config(config_text)
        binary = milter_binary()
        if not binary.exists():
            raise FileNotFoundError(f"mugaika-milter not built: {binary} (set MUGAIKA_MILTER)")
        if self.socket_spec.startswith("unix:"):
            try:
                os.unlink(self.socket_spec[5:])
            except FileNotFoundError:
                pass
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [str(binary), "--config", str(self.config_path), "--foreground"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        log.close()
        self.exit_code = None
        self._remember(self.proc.pid)
        self.wait_listening(timeout)

    def _remember(self, pid: int) -> None:
        self.known_pids.add(pid)
        with open(self.base / "milter.pids", "a") as f:
            f.write(f"{pid}\n")

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def listening(self) -> bool:
        spec = self.socket_spec
        try:
            if spec.startswith("unix:"):
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.settimeout(1)
                    s.connect(spec[5:])
            else:
                port, host = spec[5:].split("@")
                with socket.create_connection((host, int(port)), timeout=1):
                    pass
            return True
        except OSError:
            return False

    def wait_listening(self, timeout: float = 20.0) -> None:
        def ok():
            if self.proc.poll() is not None:
                raise RuntimeError(f"mugaika-milter exited with {self.proc.returncode} while "
                                   f"starting; log:\n{tail(self.log_path)}")
            return self.listening() and self.worker_pid() is not None
        wait_for(ok, timeout, what=f"mugaika-milter to listen on {self.socket_spec}")

    def worker_pid(self) -> int | None:
        if not self.running():
            return None
        kids = children_of(self.proc.pid)
        for k in kids:
            self.known_pids.add(k)
        return kids[0] if kids else None

    def reload(self) -> None:
        os.kill(self.proc.pid, signal.SIGHUP)

    def kill_worker(self, sig: int = signal.SIGKILL) -> int:
        pid = self.worker_pid()
        if pid is None:
            raise RuntimeError("no worker process under the supervisor")
        os.kill(pid, sig)
        return pid

    def wait_worker_restarted(self, old_pid: int, timeout: float = 30.0) -> int:
        def new_worker():
            if not self.running():
                raise RuntimeError(f"supervisor exited ({self.proc.returncode}); log:\n"
                                   f"{tail(self.log_path)}")
            pid = self.worker_pid()
            return pid if pid and pid != old_pid and self.listening() else None
        return wait_for(new_worker, timeout, what="the supervisor to restart the worker")

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM the supervisor and wait; SIGKILL after TIMEOUT. Returns its exit code
        (negative: killed by that signal)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.worker_pid()
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.exit_code = None
                self._kill_leftovers()
                raise RuntimeError(f"mugaika-milter did not exit within {timeout:.0f}s of SIGTERM; "
                                   f"killed. log:\n{tail(self.log_path)}")
        self.exit_code = self.proc.returncode
        self._kill_leftovers()
        return self.exit_code

    def _kill_leftovers(self) -> None:
        for pid in self.known_pids:
            if self.proc and pid == self.proc.pid:
                continue
            if _pid_alive(pid) and _is_milter(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


def _is_milter(pid: int) -> bool:
    try:
        return "mugaika-milter" in os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return False


# --------------------------------------------------------------------------------------------
# Milter configuration

DEFAULT_RULES = """\
[[rules]]
id = "outbound-pass"
description = "Mail from the LGWAN side to the Internet passes unchanged (audited)"
direction = "outbound"
action = "keep"

[[rules]]
id = "inbound-body-text"
description = "The readable body becomes plain text"
direction = "inbound"
role = "body"
action = "text"

[[rules]]
id = "inbound-attachment-strip"
description = "Every attachment is removed and listed in the notice"
direction = "inbound"
role = "attachment"
action = "strip"
"""

REJECT_EXE_RULE = """\
[[rules]]
id = "reject-exe"
description = "Windows programs are refused"
extension = ["exe"]
action = "reject"
"""


def shipped_rules() -> str:
    """The [[rules]] tables of config/mugaika.toml, as text (comments dropped before the first)."""
    text = (SOURCE_DIR / "config/mugaika.toml").read_text()
    i = text.find("[[rules]]")
    return text[i:] if i >= 0 else DEFAULT_RULES


EICAR_SIGNATURE_NAME = "Mugaika.Test.EICAR"


def eicar() -> bytes:
    """The EICAR test file, assembled at run time so that no source file is a test virus."""
    return (b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!" + b"$H+H*")


def write_test_clamav_database(directory: Path) -> Path:
    """A ClamAV database directory with one body signature for EICAR (the official database
    cannot be downloaded here). Returns the directory."""
    directory.mkdir(parents=True, exist_ok=True)
    body = b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE".hex()
    (directory / "mugaika-test.ndb").write_text(f"{EICAR_SIGNATURE_NAME}:0:*:{body}\n")
    return directory


def make_config(state_dir: Path, listen: str, rules: str | None = None, extra_rules: str = "",
                extra: str = "", release_relay: str = "", antivirus: str = "") -> str:
    """A complete mugaika.toml: the shipped rules (or RULES) with EXTRA_RULES first, the state dir
    and [milter] settings for the test. EXTRA holds further tables (e.g. "[notice]\\n...").
    RELEASE_RELAY, when given, is [release] relay (host:port); ANTIVIRUS further lines of
    [antivirus] (e.g. 'mode = "clamd"')."""
    rules = shipped_rules() if rules is None else rules
    clamav = write_test_clamav_database(Path(state_dir).parent / "clamav")
    release = f'\n[release]\nrelay = "{release_relay}"\ntimeout = "10s"\n' if release_relay else ""
    return f"""\
# Written by tests/e2e/mugaika_e2e.py
[gateway]
state_dir = "{state_dir}"
default_direction = "inbound"

[antivirus]
enabled = true
database = "{clamav}"
{antivirus}

[milter]
listen = "{listen}"
socket_mode = "0666"
inbound_daemons = ["internet"]
outbound_daemons = ["lgwan"]
{release}
{extra}

{extra_rules}
{rules}
"""


# --------------------------------------------------------------------------------------------
# clamd

CLAMD_CONF = """\
# Written by tests/e2e/mugaika_e2e.py: a private clamd, never the system service.
LocalSocket {socket}
LocalSocketMode 666
DatabaseDirectory {database}
TemporaryDirectory {tmp}
Foreground yes
User {user}
LogFile {log}
LogTime yes
# What mugaika asks of a clamd it uses (docs/configuration.md): report what could not be looked
# at, so that it becomes "incomplete", never "clean".
AlertExceedsMax yes
AlertEncrypted yes
AlertBrokenExecutables yes
StreamMaxLength {stream_max}
"""


def clamd_binary() -> str:
    """Debian's clamd (package clamav-daemon, installed by scripts/setup)."""
    for p in (shutil.which("clamd"), "/usr/sbin/clamd"):
        if p and os.access(p, os.X_OK):
            return p
    raise FileNotFoundError("clamd not found: scripts/setup installs clamav-daemon")


def _is_clamd(pid: int) -> bool:
    try:
        return os.readlink(f"/proc/{pid}/exe").endswith("/clamd")
    except OSError:
        return False


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text().split()
    except OSError:
        return []


def clamd_request(socket_path: Path, command: bytes, timeout: float = 5.0) -> bytes:
    """Sends one z-command (b"zPING\\0") and returns the reply without its NUL."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(socket_path))
        s.sendall(command)
        reply = b""
        while not reply.endswith(b"\0"):
            chunk = s.recv(4096)
            if not chunk:
                break
            reply += chunk
        return reply.rstrip(b"\0")


class Clamd:
    """clamd in the foreground under BASE/clamd: its own clamd.conf, unix socket, log and
    temporary directory, the test database (write_test_clamav_database). start() waits until
    it answers PING; stop() ends it (SIGTERM, then SIGKILL). Its pid goes to BASE/clamd.pids so
    that cleanup_stale() finds it after a killed run."""

    def __init__(self, base: Path, database: Path, stream_max: str = "25M"):
        self.base = Path(base)
        self.dir = self.base / "clamd"
        self.socket = self.dir / "clamd.sock"
        self.conf = self.dir / "clamd.conf"
        self.log = self.dir / "clamd.log"
        self.tmp = self.dir / "tmp"
        self.database = Path(database)
        self.stream_max = stream_max
        self.proc: subprocess.Popen | None = None
        self.started_in: float | None = None  # seconds from exec to the first PONG

    def write_config(self) -> None:
        import pwd
        self.dir.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.conf.write_text(CLAMD_CONF.format(
            socket=self.socket, database=self.database, tmp=self.tmp, log=self.log,
            user=pwd.getpwuid(os.geteuid()).pw_name, stream_max=self.stream_max))

    def ping(self) -> bool:
        try:
            return clamd_request(self.socket, b"zPING\0", timeout=1.0) == b"PONG"
        except OSError:
            return False

    def start(self, timeout: float = 60.0) -> float:
        """Starts clamd and waits for its PONG. Returns the seconds that took."""
        self.write_config()
        try:
            self.socket.unlink()
        except FileNotFoundError:
            pass
        out = open(self.dir / "clamd.stderr", "ab")
        t0 = time.monotonic()
        self.proc = subprocess.Popen([clamd_binary(), "-c", str(self.conf)],
                                     stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                     start_new_session=True)
        out.close()
        with open(self.base / "clamd.pids", "a") as f:
            f.write(f"{self.proc.pid}\n")

        def up():
            if self.proc.poll() is not None:
                raise RuntimeError(f"clamd exited with {self.proc.returncode} while starting; "
                                   f"log:\n{tail(self.log)}\n{tail(self.dir / 'clamd.stderr')}")
            return self.ping()
        wait_for(up, timeout, interval=0.01, what=f"clamd to answer on {self.socket}")
        self.started_in = time.monotonic() - t0
        return self.started_in

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> "Clamd":
        atexit.register(self.stop)
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


# --------------------------------------------------------------------------------------------
# Harness

_live: list["Harness"] = []
_handlers_installed = False


def _cleanup_all() -> None:
    for h in list(_live):
        h.close()


def _on_signal(signum, _frame):
    _cleanup_all()
    sys.exit(128 + signum)


def cleanup_stale() -> None:
    """Stop instances left behind by a run that was killed (owner PID dead)."""
    for d in glob.glob(os.path.join(tempfile.gettempdir(), TMP_PREFIX + "*")):
        owner = Path(d) / "owner.pid"
        try:
            pid = int(owner.read_text())
        except (OSError, ValueError):
            continue
        if _pid_alive(pid):
            continue
        conf = Path(d) / "postfix"
        if (conf / "main.cf").exists():
            subprocess.run(["postfix", "-c", str(conf), "stop"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, env=dict(os.environ, MAIL_CONFIG=str(conf)))
            time.sleep(1)
            kill_mail_config(conf)
        for line in _read_lines(Path(d) / "clamd.pids"):
            p = int(line)
            if _pid_alive(p) and _is_clamd(p):
                os.kill(p, signal.SIGKILL)
        try:
            for line in (Path(d) / "milter.pids").read_text().split():
                p = int(line)
                if _pid_alive(p) and _is_milter(p):
                    for c in descendants_of(p):
                        os.kill(c, signal.SIGKILL)
                    os.kill(p, signal.SIGKILL)
        except (OSError, ValueError):
            pass
        shutil.rmtree(d, ignore_errors=True)


class Harness:
    """A temporary directory with a private Postfix and (on demand) mugaika-milter."""

    def __init__(self, milter_socket: str | None = None, start_postfix: bool = True,
                 message_size_limit: int = 20 * 1024 * 1024, with_milter: bool = True):
        global _handlers_installed
        require_root()
        cleanup_stale()
        self.base = Path(tempfile.mkdtemp(prefix=TMP_PREFIX))
        os.chmod(self.base, 0o755)
        (self.base / "owner.pid").write_text(str(os.getpid()))
        self.state_dir = self.base / "state"
        if milter_socket is None:
            if os.environ.get("MUGAIKA_E2E_MILTER_SOCKET") == "inet":
                milter_socket = f"inet:{free_port()}@127.0.0.1"
            else:
                milter_socket = f"unix:{self.base}/milter.sock"
        self.milter_socket = milter_socket
        self.milter = Milter(self.base, milter_socket)
        self.postfix = PostfixInstance(self.base, milters=milter_socket if with_milter else "",
                                       message_size_limit=message_size_limit)
        self.closed = False
        _live.append(self)
        if not _handlers_installed:
            atexit.register(_cleanup_all)
            for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                signal.signal(s, _on_signal)
            _handlers_installed = True
        if start_postfix:
            self.postfix.start()

    # convenience
    @property
    def internet_port(self) -> int:
        return self.postfix.internet_port

    @property
    def lgwan_port(self) -> int:
        return self.postfix.lgwan_port

    @property
    def release_port(self) -> int:
        return self.postfix.release_port

    def milter_config(self, **kw) -> str:
        kw.setdefault("release_relay", f"127.0.0.1:{self.release_port}")
        return make_config(self.state_dir, self.milter_socket, **kw)

    def start_milter(self, config_text: str | None = None, timeout: float = 20.0) -> None:
        self.milter.start(config_text if config_text is not None else self.milter_config(),
                          timeout)

    def stop_milter(self, timeout: float = 30.0) -> int | None:
        return self.milter.stop(timeout)

    def reload(self) -> None:
        self.milter.reload()

    def kill_worker(self, sig: int = signal.SIGKILL) -> int:
        return self.milter.kill_worker(sig)

    def send(self, mail: bytes, port: int | None = None, mail_from: str = "sender@example.com",
             rcpts: list[str] | None = None) -> tuple[int, str]:
        return smtp_send(mail, port or self.internet_port, mail_from,
                         rcpts or ["staff@city.example.lg.jp"])

    def wait_drained(self, timeout: float = 60.0) -> None:
        self.postfix.wait_drained(timeout)

    def delivered(self) -> list[Delivered]:
        return self.postfix.delivered()

    def cli(self, *args: str, check: bool = True, config: bool = False,
            env: dict | None = None) -> subprocess.CompletedProcess:
        """Runs mugaika on the harness's state dir; with CONFIG, also with the milter's config file
        (for [release] relay)."""
        opts = ["--config", str(self.milter.config_path)] if config else []
        cmd = [str(cli_binary()), *opts, "--state-dir", str(self.state_dir), *args]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120,
                           env=env)
        if check and p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): "
                               f"{p.stderr.decode(errors='replace')}")
        return p

    def audit_rows(self, include_config: bool = False) -> list[dict]:
        """Audit records, newest first; without `include_config`, the config-load records that
        every milter start and reload writes are left out."""
        if not (self.state_dir / "audit.db").exists():
            return []
        p = self.cli("audit", "query", "--format", "json", "--limit", "0")
        rows = json.loads(p.stdout.decode() or "[]")
        return rows if include_config else [r for r in rows if r["verdict"] != "config_loaded"]

    def audit_verify(self) -> str:
        return self.cli("audit", "verify").stdout.decode()

    def export_original(self, ident: str) -> bytes:
        out = self.base / "export.eml"
        self.cli("quarantine", "export", ident, "-o", str(out))
        data = out.read_bytes()
        out.unlink()
        return data

    def diagnostics(self) -> str:
        return (f"--- temp dir {self.base}\n--- milter log (tail):\n{tail(self.milter.log_path)}\n"
                f"--- maillog (tail):\n{tail(self.postfix.maillog)}\n"
                f"--- queue: {self.postfix.queue_files()}")

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        errors = []
        try:
            self.milter.stop(timeout=20)
        except Exception as e:  # still stop Postfix
            errors.append(e)
        try:
            self.postfix.stop()
        except Exception as e:
            errors.append(e)
        if self in _live:
            _live.remove(self)
        if os.environ.get("MUGAIKA_E2E_KEEP"):
            sys.stderr.write(f"kept {self.base}\n")
        else:
            shutil.rmtree(self.base, ignore_errors=True)
        if errors:
            sys.stderr.write(f"cleanup problems: {errors}\n")

    def __enter__(self) -> "Harness":
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is not None:
            sys.stderr.write(self.diagnostics() + "\n")
        self.close()


# --------------------------------------------------------------------------------------------
# Helpers for tests

AUDIT_ID_RE = re.compile(r"MG-[0-9A-Za-z-]+")


BOUNDARY_RE = re.compile(r"=_mugaika_[0-9a-f]{24}")


def normalize_audit(text: str) -> str:
    """TEXT with audit ids, and the multipart boundaries derived from them, made comparable."""
    return BOUNDARY_RE.sub("=_mugaika_BOUNDARY", AUDIT_ID_RE.sub("MG-AUDIT", text))


def sample_mails() -> list[Path]:
    d = SOURCE_DIR / "samples/mail"
    return sorted(p for p in d.glob("*.eml") if ".expected." not in p.name)


def expected_for(sample: Path) -> tuple[str, Path | None]:
    """('eml', path), ('refused', path) or ('none', None)."""
    stem = sample.name[:-4]
    eml = sample.parent / f"{stem}.expected.eml"
    refused = sample.parent / f"{stem}.expected.refused"
    if refused.exists():
        return "refused", refused
    if eml.exists():
        return "eml", eml
    return "none", None


def message_id_of(mail: bytes) -> str:
    m = email.message_from_bytes(mail, policy=email.policy.compat32)
    return (m.get("Message-ID") or "").strip()


def make_mail(subject: str, body: str, message_id: str, attachments: list[tuple[str, str, bytes]] = (),
              sender: str = "sender@example.com", to: str = "staff@city.example.lg.jp") -> bytes:
    """A simple MIME mail with CRLF line ends. attachments: (filename, content-type, bytes)."""
    from email.message import EmailMessage
    m = EmailMessage(policy=email.policy.SMTP)
    m["From"] = sender
    m["To"] = to
    m["Subject"] = subject
    m["Date"] = "Mon, 21 Apr 2025 10:00:00 +0900"
    m["Message-ID"] = message_id
    m.set_content(body)
    for name, ctype, data in attachments:
        maintype, subtype = ctype.split("/", 1)
        m.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return m.as_bytes()


def sanitized_problems(d: Delivered, mode: str = "text") -> list[str]:
    """Why D is not a sanitized delivery in MODE ("text": one text/plain part with the notice;
    "pass": unchanged content with the stamp). Empty list: it is."""
    problems = []
    stamps = d.msg.get_all("X-Mugaika-Sanitized") or []
    if len(stamps) != 1:
        problems.append(f"{len(stamps)} X-Mugaika-Sanitized headers")
    elif f"mode={mode}" not in str(stamps[0]) or not AUDIT_ID_RE.search(str(stamps[0])):
        problems.append(f"X-Mugaika-Sanitized: {stamps[0]}")
    if mode == "text":
        # The text body first; every other leaf a file a CDR engine rebuilt.
        leaves = d.leaves()
        types = [p.get_content_type() for p in leaves]
        if not leaves or types[0] != "text/plain" or leaves[0].get("X-Mugaika-CDR"):
            problems.append(f"the first part is not the text body: {types}")
        for p in leaves[1:]:
            mark = str(p.get("X-Mugaika-CDR") or "")
            if not re.match(r"^[a-z]+; audit=MG-", mark):
                problems.append(f"{p.get_content_type()} part without X-Mugaika-CDR")
        if "無害化通知" not in d.text():
            problems.append("no notice (無害化通知) in the text")
    return problems


def exe_bytes() -> bytes:
    """A harmless fixture that looks like a Windows program (MZ/PE header, no code)."""
    return b"MZ" + b"\x90\x00" * 29 + b"\x80\x00\x00\x00" + b"\x00" * 64 + b"PE\x00\x00" + b"\x00" * 200
