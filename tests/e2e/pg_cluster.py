"""A private PostgreSQL server for one test: initdb into a temporary directory, start, stop.

Python 3 standard library only. Uses Debian's server binaries (package `postgresql`, installed by
scripts/setup) from /usr/lib/postgresql/VERSION/bin, the newest version found. The server listens
on 127.0.0.1 and on a unix socket inside its own directory, on a free port, with trust
authentication for the role `mugaika` (the superuser initdb creates). It never touches a system
cluster: no pg_ctlcluster, no /etc/postgresql, no /var/run/postgresql.

PostgreSQL refuses to run as root: when the test runs as root, every server command runs as the
`postgres` system user (`runuser -u postgres --`) and the directory is owned by it; otherwise as
the current user.

    from pg_cluster import PgCluster
    with PgCluster() as pg:                     # started
        pg.createdb("trail")
        conninfo = pg.conninfo("trail")          # "host=127.0.0.1 port=P user=mugaika dbname=trail"
        print(pg.psql("trail", "SELECT count(*) FROM messages"))
    # stopped, directory removed

A missing PostgreSQL raises PgMissing (a test must fail with it, never skip).
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TMP_PREFIX = "mugaika-pg."
SUPERUSER = "mugaika"


class PgMissing(RuntimeError):
    pass


class PgError(RuntimeError):
    pass


def _version_key(path: str) -> tuple:
    m = re.search(r"/postgresql/([0-9.]+)/bin$", path)
    return tuple(int(x) for x in m.group(1).split(".")) if m else (0,)


def find_bin_dir() -> Path:
    """The newest /usr/lib/postgresql/*/bin holding initdb, pg_ctl and postgres."""
    dirs = [d for d in glob.glob("/usr/lib/postgresql/*/bin")
            if all(os.access(os.path.join(d, b), os.X_OK) for b in ("initdb", "pg_ctl", "postgres"))]
    if not dirs:
        raise PgMissing(
            "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin/initdb, pg_ctl, "
            "postgres): install the Debian package `postgresql` (scripts/setup does)")
    return Path(sorted(dirs, key=_version_key)[-1])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pid_alive(pid: int) -> bool:
    """True for a running process; False for none or a zombie (exited, not yet reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def _is_postgres(pid: int, bin_dir: str | None = None) -> bool:
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return False
    if bin_dir is not None:
        return exe.startswith(bin_dir + "/")
    return exe.startswith("/usr/lib/postgresql/") and exe.endswith("/bin/postgres")


def cleanup_stale() -> None:
    """Stops servers left behind by a run that was killed (owner.pid dead): their postmaster is
    found through DATA/postmaster.pid and checked by /proc/PID/exe, never by name."""
    for d in glob.glob(os.path.join(tempfile.gettempdir(), TMP_PREFIX + "*")):
        try:
            owner = int((Path(d) / "owner.pid").read_text())
        except (OSError, ValueError):
            continue
        if _pid_alive(owner):
            continue
        try:
            master = int((Path(d) / "data/postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            master = 0
        if master and _pid_alive(master) and _is_postgres(master):
            os.kill(master, signal.SIGQUIT)  # immediate shutdown of the postmaster and backends
            deadline = time.monotonic() + 10
            while _pid_alive(master) and time.monotonic() < deadline:
                time.sleep(0.2)
            if _pid_alive(master):
                os.kill(master, signal.SIGKILL)
        shutil.rmtree(d, ignore_errors=True)


def check_dev_null() -> None:
    """initdb and the server write to /dev/null as the server's user; a /dev/null that was
    replaced by a regular file (e.g. a rename over it by a program running as root) breaks them
    with `cannot create /dev/null: Permission denied`."""
    st = os.stat("/dev/null")
    if not stat.S_ISCHR(st.st_mode):
        raise PgError("/dev/null is not a character device (something replaced it with a regular "
                      "file); restore it as root: mknod -m 666 /dev/.null c 1 3 && "
                      "mv -f /dev/.null /dev/null")


class PgCluster:
    """A private PostgreSQL server. start() is called by the constructor unless start=False."""

    def __init__(self, start: bool = True, log=None):
        self.bin = find_bin_dir()
        check_dev_null()
        cleanup_stale()
        psql = self.bin / "psql"
        if not os.access(psql, os.X_OK):
            psql = Path(shutil.which("psql") or "/usr/bin/psql")
        if not os.access(psql, os.X_OK):
            raise PgMissing("psql not found: install the Debian package `postgresql`")
        self.psql_bin = psql
        self.log = log or (lambda msg: print(msg, flush=True))
        self.as_root = os.geteuid() == 0
        if self.as_root:
            try:
                self.owner = pwd.getpwnam("postgres")
            except KeyError:
                raise PgMissing("running as root, but there is no `postgres` system user to run "
                                "the server as: install the Debian package `postgresql`") from None
        else:
            self.owner = pwd.getpwuid(os.geteuid())
        self.base = Path(tempfile.mkdtemp(prefix=TMP_PREFIX))
        os.chmod(self.base, 0o755)  # the mugaika processes (root) and psql reach the socket
        (self.base / "owner.pid").write_text(str(os.getpid()))
        self.data = self.base / "data"
        self.sockdir = self.base / "sock"
        self.logfile = self.base / "server.log"
        self.port = _free_port()
        self.host = "127.0.0.1"
        self.running = False
        self.removed = False
        if self.as_root:
            os.chown(self.base, self.owner.pw_uid, self.owner.pw_gid)
        if start:
            try:
                self.start()
            except BaseException:
                self.stop()
                raise

    # -- running commands as the server's owner

    def _cmd(self, argv: list[str]) -> list[str]:
        if self.as_root:
            return ["runuser", "-u", self.owner.pw_name, "--", *argv]
        return argv

    def _run(self, argv: list[str], timeout: float = 120, check: bool = True,
             input: bytes | None = None) -> subprocess.CompletedProcess:
        env = dict(os.environ, LC_ALL="C.UTF-8", PGTZ="UTC")
        for k in ("PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGPASSWORD", "PGSERVICE",
                  "PGOPTIONS", "PGDATA"):
            env.pop(k, None)
        p = subprocess.run(self._cmd(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout, env=env, input=input, cwd=str(self.base))
        if check and p.returncode != 0:
            raise PgError(f"{' '.join(argv)} failed ({p.returncode}):\n"
                          f"{p.stdout.decode(errors='replace')}{p.stderr.decode(errors='replace')}")
        return p

    # -- life cycle

    def start(self) -> None:
        self.sockdir.mkdir()
        if self.as_root:
            os.chown(self.sockdir, self.owner.pw_uid, self.owner.pw_gid)
        os.chmod(self.sockdir, 0o755)
        self.log(f"pg: initdb {self.data} ({self.bin.parent.name}, as {self.owner.pw_name})")
        self._run([str(self.bin / "initdb"), "-D", str(self.data), "-U", SUPERUSER,
                   "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-instructions"])
        opts = (f"-k {self.sockdir} -p {self.port} -c listen_addresses={self.host} -c fsync=on "
                f"-c max_connections=50")
        self.log(f"pg: pg_ctl start on 127.0.0.1:{self.port}")
        try:
            self._run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.logfile),
                       "-o", opts, "-w", "-t", "60", "start"])
        except PgError as e:
            raise PgError(f"{e}\n--- server log:\n{self.server_log()}") from None
        self.running = True

    def pause(self) -> None:
        """Stops the server and keeps its data (resume() starts it again on the same port)."""
        self.log("pg: pg_ctl stop -m fast (paused)")
        self._run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "30",
                   "stop"], timeout=60)
        self.running = False

    def resume(self) -> None:
        opts = (f"-k {self.sockdir} -p {self.port} -c listen_addresses={self.host} -c fsync=on "
                f"-c max_connections=50")
        self.log(f"pg: pg_ctl start on 127.0.0.1:{self.port} (resumed)")
        self._run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.logfile),
                   "-o", opts, "-w", "-t", "60", "start"])
        self.running = True

    def pid(self) -> int | None:
        """The postmaster's pid from DATA/postmaster.pid (None if not running)."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None
        return pid if _pid_alive(pid) else None

    def _server_pids(self) -> list[int]:
        """The postmaster and its children: processes whose exe is this bin dir's postgres and
        whose parent chain reaches the postmaster of this data dir, or whose command line names
        this data dir. Never by name alone."""
        out = []
        master = self.pid()
        for stat in glob.glob("/proc/[0-9]*/stat"):
            pid = int(stat.split("/")[2])
            if not _is_postgres(pid, str(self.bin)):
                continue
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                ppid = int(Path(stat).read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if pid == master or (master and ppid == master) or \
                    str(self.data).encode() in cmdline:
                out.append(pid)
        return out

    def stop(self) -> None:
        """pg_ctl stop -m fast, then make sure no process of this data dir is left, then remove
        the directory (unless MUGAIKA_E2E_KEEP is set)."""
        if self.removed:
            return
        if self.data.exists() and self.pid():
            self.log("pg: pg_ctl stop -m fast")
            try:
                self._run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w",
                           "-t", "30", "stop"], check=False, timeout=60)
            except subprocess.TimeoutExpired:
                pass
        self.running = False
        # Leftovers (a postmaster pg_ctl could not stop, orphaned backends).
        deadline = time.monotonic() + 10
        while True:
            pids = self._server_pids() if self.data.exists() else []
            if not pids:
                break
            if time.monotonic() > deadline:
                for p in pids:
                    try:
                        os.kill(p, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                time.sleep(0.5)
                if not self._server_pids():
                    break
                raise PgError(f"postgres processes of {self.data} still running: {pids}")
            time.sleep(0.2)
        if os.environ.get("MUGAIKA_E2E_KEEP"):
            sys.stderr.write(f"kept {self.base}\n")
        else:
            shutil.rmtree(self.base, ignore_errors=True)
        self.removed = True

    def __enter__(self) -> "PgCluster":
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is not None:
            sys.stderr.write(f"--- postgres log (tail):\n{self.server_log(30)}\n")
        self.stop()

    # -- use

    def conninfo(self, dbname: str) -> str:
        """A libpq connection string over TCP to DBNAME as the superuser `mugaika`."""
        return f"host={self.host} port={self.port} user={SUPERUSER} dbname={dbname}"

    def createdb(self, name: str) -> str:
        """Creates database NAME (UTF-8, template0) and returns its conninfo."""
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
            raise ValueError(f"database name {name!r}: lower-case letters, digits, _ only")
        self.psql("postgres", f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8'")
        return self.conninfo(name)

    def psql(self, dbname: str, sql: str, check: bool = True) -> str:
        """Runs SQL (one or more statements) in DBNAME; returns stdout (unaligned, tuples only,
        fields separated by '|'). Raises PgError on any SQL error when CHECK."""
        p = self._run([str(self.psql_bin), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                       "-h", str(self.sockdir), "-p", str(self.port), "-U", SUPERUSER,
                       "-d", dbname, "-f", "-"], input=sql.encode(), check=check)
        return p.stdout.decode()

    def server_log(self, lines: int = 60) -> str:
        try:
            data = self.logfile.read_text(errors="replace").splitlines()
        except OSError:
            return f"({self.logfile} not readable)"
        return "\n".join(data[-lines:])
