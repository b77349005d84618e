#!/usr/bin/env python3
"""e2e.console: `mugaika serve`, the auditors' web console and JSON API, in a real browser.

No Postfix: mails go in with `mugaika sanitize` on a private state dir, users are made with
`mugaika console user add`, and `mugaika serve` listens on a free loopback port.
  * API: 401 without a session, wrong password 401, lockout (429) after [console]
    lockout_failures failures (a second server with its own limit), 400 for bad parameters,
    paging with next_offset, auditor 403 on approve, missing CSRF token 403, an admin's refusal
    of a release request made with `mugaika quarantine request`, and every access in
    `mugaika audit query --verdict accessed` with the user and the parameters.
  * HTML escaping: a subject with <script> is shown as text.
  * TLS: a self-signed certificate made with the openssl CLI; the session cookie is Secure.
  * `config check` refuses a non-loopback listen address without TLS, naming file and line.
  * Browser: Debian's chromium + chromedriver through Selenium (never selenium-manager): log
    in, search by sender, open the story, the report and the verify page, switch to English.
    Missing chromium, chromedriver or selenium is a FAILURE, not a skip (scripts/setup installs
    them).
"""

import http.client
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mugaika_e2e as e2e  # noqa: E402

SAMPLES = e2e.SOURCE_DIR / "samples/mail"
AUDITOR, AUDITOR_PW = "alice", "alice-password-1"
ADMIN, ADMIN_PW = "bob", "bob-password-22"
SENDER = "billing@example.com"
JA_SUBJECT = "請求書・見積書の送付"
SCRIPT_SUBJECT = "<script>alert(1)</script> 確認"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM = "/usr/bin/chromium"


def script_mail() -> bytes:
    return ("From: x@evil.example\r\nTo: kanri@city.example.lg.jp\r\n"
            "Subject: =?UTF-8?B?" + __import__("base64").b64encode(SCRIPT_SUBJECT.encode()).decode() +
            "?=\r\nMessage-ID: <script-1@e2e.mugaika.test>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n").encode()


class Client:
    """A tiny HTTP(S) client that keeps the console's cookies."""

    def __init__(self, port: int, tls: bool = False):
        self.port, self.tls = port, tls
        self.cookies: dict[str, str] = {}
        self.csrf = ""

    def request(self, method: str, path: str, body=None, headers=None):
        if self.tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=ctx, timeout=30)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        h = dict(headers or {})
        if self.cookies:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        data = None
        if body is not None:
            data = json.dumps(body).encode() if not isinstance(body, (bytes, str)) else body
            if isinstance(data, str):
                data = data.encode()
            h.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=h)
        resp = conn.getresponse()
        raw = resp.read()
        set_cookies = resp.headers.get_all("Set-Cookie") or []
        for c in set_cookies:
            name, _, rest = c.partition("=")
            value = rest.split(";", 1)[0]
            if "Max-Age=0" in c:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        conn.close()
        return resp.status, resp.headers, raw, set_cookies

    def json(self, method: str, path: str, body=None, headers=None):
        status, hdrs, raw, _ = self.request(method, path, body, headers)
        try:
            return status, json.loads(raw.decode() or "null")
        except ValueError:
            raise AssertionError(f"{method} {path}: not JSON ({status}): {raw[:300]!r}")

    def login(self, user: str, password: str) -> int:
        status, doc = self.json("POST", "/api/v1/login", {"user": user, "password": password})
        if status == 200:
            self.csrf = doc["csrf"]
        return status


class Serve:
    """`mugaika serve` in the foreground with its own config."""

    def __init__(self, base: Path, name: str, config_text: str):
        self.config = base / f"{name}.toml"
        self.config.write_text(config_text)
        self.log = base / f"{name}.log"
        self.proc = None

    def start(self):
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [str(e2e.cli_binary()), "--config", str(self.config), "serve"],
                stdout=log, stderr=subprocess.STDOUT)
        e2e.wait_for(lambda: "listening on" in self.log.read_text() or self.proc.poll() is not None,
                      20, what="mugaika serve to listen")
        if self.proc.poll() is not None:
            raise AssertionError(f"serve exited {self.proc.returncode}: {self.log.read_text()}")

    def stop(self):
        """SIGTERM; serve must exit 0 (a sanitizer report or a crash would not)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"serve did not stop on SIGTERM: {self.log.read_text()}")
        if self.proc and self.proc.returncode != 0:
            raise AssertionError(f"serve exited {self.proc.returncode}: {self.log.read_text()}")


def config_text(state: Path, port: int, extra: str = "") -> str:
    return (f'[gateway]\nstate_dir = "{state}"\n[antivirus]\nenabled = false\n'
            f'[console]\nlisten = "127.0.0.1:{port}"\nlockout_failures = 3\nlockout_minutes = 1\n'
            f'max_results = 20\n{extra}')


class Console(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.base = Path(tempfile.mkdtemp(prefix="mugaika-e2e-console."))
        cls.state = cls.base / "state"
        cls.state.mkdir()
        cls.port = e2e.free_port()
        cls.serve = Serve(cls.base, "main", config_text(cls.state, cls.port))
        cls.audit_ids = {}
        for sample in ("19-mixed-attachments.eml", "02-utf8-8bit-plain.eml", "03-iso2022jp-plain.eml"):
            cls.audit_ids[sample] = cls.sanitize((SAMPLES / sample).read_bytes(),
                                                 SENDER if sample.startswith("19") else "hanako@example.jp")
        cls.audit_ids["script"] = cls.sanitize(script_mail(), "x@evil.example")
        for user, role, pw in ((AUDITOR, "auditor", AUDITOR_PW), (ADMIN, "admin", ADMIN_PW)):
            cls.cli("console", "user", "add", user, "--role", role, stdin=pw + "\n")
        cls.serve.start()

    @classmethod
    def tearDownClass(cls):
        cls.serve.stop()
        if not os.environ.get("MUGAIKA_E2E_KEEP"):
            shutil.rmtree(cls.base, ignore_errors=True)

    @classmethod
    def cli(cls, *args, stdin: str | None = None, check: bool = True, config: Path | None = None):
        cmd = [str(e2e.cli_binary()), "--config", str(config or cls.serve.config), *args]
        p = subprocess.run(cmd, input=stdin.encode() if stdin is not None else None,
                           capture_output=True, timeout=120)
        if check and p.returncode != 0:
            raise AssertionError(f"{cmd}: exit {p.returncode}: {p.stderr.decode()}")
        return p

    @classmethod
    def sanitize(cls, mail: bytes, sender: str) -> str:
        p = cls.cli("sanitize", "--from", sender, "--rcpt", "kanri@city.example.lg.jp", "--json",
                    "-o", str(cls.base / "out.eml"), stdin=mail.decode("latin-1"))
        return json.loads(p.stdout)["audit_id"]

    def logged_in(self, user=AUDITOR, pw=AUDITOR_PW) -> Client:
        c = Client(self.port)
        self.assertEqual(c.login(user, pw), 200)
        return c

    def accessed(self) -> list[dict]:
        p = self.cli("audit", "query", "--verdict", "accessed", "--format", "json", "--limit", "0")
        return json.loads(p.stdout)

    # ---- API ----

    def test_api_needs_a_session_and_right_password(self):
        c = Client(self.port)
        status, doc = c.json("GET", "/api/v1/messages")
        self.assertEqual(status, 401)
        self.assertEqual(doc["error"]["code"], "console.unauthenticated")
        status, hdrs, _, _ = c.request("GET", "/api/v1/verify")
        self.assertEqual(status, 401)
        for h in ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options",
                  "Referrer-Policy", "Cache-Control"):
            self.assertIn(h, hdrs)
        self.assertNotIn("unsafe-inline", hdrs["Content-Security-Policy"])
        self.assertEqual(hdrs["X-Frame-Options"], "DENY")
        self.assertEqual(c.login(ADMIN, "wrong-password"), 401)
        self.assertEqual(c.login(ADMIN, ADMIN_PW), 200)
        status, doc = c.json("GET", "/api/v1/me")
        self.assertEqual((status, doc["user"], doc["role"]), (200, ADMIN, "admin"))
        status, doc = c.json("POST", "/api/v1/logout", {}, {"X-CSRF-Token": c.csrf})
        self.assertEqual(status, 200)
        self.assertEqual(c.json("GET", "/api/v1/me")[0], 401)
        # 404 and 405, 413
        c = self.logged_in()
        self.assertEqual(c.json("GET", "/api/v1/nothing")[0], 404)
        self.assertEqual(c.json("DELETE", "/api/v1/messages")[0], 405)
        status, _, _, _ = c.request("POST", "/api/v1/releases/RQ-x/approve", b"x" * 70000,
                                    {"X-CSRF-Token": c.csrf})
        self.assertEqual(status, 413)

    def test_lockout_after_repeated_failures(self):
        port = e2e.free_port()
        other = Serve(self.base, "lockout", config_text(self.state, port))
        other.start()
        try:
            c = Client(port)
            for _ in range(3):
                self.assertEqual(c.login(AUDITOR, "wrong"), 401)
            # Locked now: even the right password is refused, with 429 and Retry-After.
            status, hdrs, raw, _ = c.request("POST", "/api/v1/login",
                                             {"user": AUDITOR, "password": AUDITOR_PW})
            self.assertEqual(status, 429, raw)
            self.assertEqual(json.loads(raw)["error"]["code"], "console.locked_out")
            self.assertGreater(int(hdrs["Retry-After"]), 0)
        finally:
            other.stop()
        rows = json.loads(self.cli("audit", "query", "--verdict", "locked_out", "--format",
                                   "json").stdout)
        self.assertTrue(rows)
        self.assertIn(f"user={AUDITOR}", rows[0]["events"][0]["detail"])
        failed = json.loads(self.cli("audit", "query", "--verdict", "login_failed", "--format",
                                     "json").stdout)
        self.assertGreaterEqual(len(failed), 2)
        self.assertNotIn("wrong", json.dumps(failed))  # passwords are never recorded

    def test_bad_parameters_are_400(self):
        c = self.logged_in()
        for path, needle in (("/api/v1/messages?since=2026-13-45", "since"),
                             ("/api/v1/messages?colour=blue", "unknown parameter"),
                             ("/api/v1/messages?limit=21", "limit"),
                             ("/api/v1/messages?limit=abc", "limit"),
                             ("/api/v1/messages?offset=-1", "offset"),
                             ("/api/v1/messages?sha256=xyz", "sha256"),
                             ("/api/v1/messages?zone=Mars/Base", "zone"),
                             ("/api/v1/report?month=2026-13", "month"),
                             ("/api/v1/report", "month"),
                             ("/api/v1/report?month=26-1", "month")):
            status, doc = c.json("GET", path)
            self.assertEqual(status, 400, path)
            self.assertEqual(doc["error"]["code"], "console.bad_parameter", path)
            self.assertIn(needle, doc["error"]["message"], path)

    def test_paging_search_story_report_verify(self):
        c = self.logged_in()
        status, doc = c.json("GET", "/api/v1/messages?verdict=sanitized&limit=1")
        self.assertEqual(status, 200)
        self.assertEqual((doc["limit"], doc["offset"], doc["next_offset"]), (1, 0, 1))
        first = doc["items"][0]["audit_id"]
        status, doc2 = c.json("GET", "/api/v1/messages?verdict=sanitized&limit=1&offset=1")
        self.assertNotEqual(doc2["items"][0]["audit_id"], first)
        status, doc3 = c.json("GET", "/api/v1/messages?verdict=sanitized&limit=20")
        self.assertEqual(len(doc3["items"]), 4)
        self.assertIsNone(doc3["next_offset"])
        q = urllib.parse.urlencode({"sender": SENDER, "since": "2000-01-01"})
        status, doc = c.json("GET", "/api/v1/messages?" + q)
        self.assertEqual([i["subject"] for i in doc["items"]], [JA_SUBJECT])
        aid = self.audit_ids["19-mixed-attachments.eml"]
        status, story = c.json("GET", f"/api/v1/messages/{aid}")
        self.assertEqual(status, 200)
        self.assertEqual(story["mail"]["audit_id"], aid)
        self.assertIn("請求書.pdf", json.dumps(story, ensure_ascii=False))
        self.assertEqual(c.json("GET", "/api/v1/messages/MG-20000101-000000-00000000")[0], 404)
        month = time.strftime("%Y-%m", time.gmtime(time.time() + 9 * 3600))
        status, rep = c.json("GET", f"/api/v1/report?month={month}")
        self.assertEqual(status, 200)
        self.assertEqual(rep["messages"], 4)
        status, v = c.json("GET", "/api/v1/verify")
        self.assertEqual(status, 200)
        self.assertTrue(v["ok"])
        self.assertEqual(len(v["head_hash"]), 64)

    def test_roles_csrf_and_release_refusal(self):
        aid = self.audit_ids["19-mixed-attachments.eml"]
        rq = self.cli("quarantine", "request", aid, "--all", "--to", "kanri@city.example.lg.jp",
                      "--reason", "原本の確認", "--as", "carol").stdout.decode().strip()
        self.assertRegex(rq, r"^RQ-\d{8}-\d{6}-[0-9a-f]{8}$")
        auditor = self.logged_in()
        status, doc = auditor.json("GET", "/api/v1/releases")
        self.assertEqual(status, 200)
        self.assertIn(rq, [i["request_id"] for i in doc["items"]])
        status, doc = auditor.json("POST", f"/api/v1/releases/{rq}/approve", {},
                                   {"X-CSRF-Token": auditor.csrf})
        self.assertEqual(status, 403)
        self.assertEqual(doc["error"]["code"], "console.forbidden")
        admin = self.logged_in(ADMIN, ADMIN_PW)
        status, doc = admin.json("POST", f"/api/v1/releases/{rq}/refuse", {"reason": "不要"})
        self.assertEqual(status, 403)
        self.assertEqual(doc["error"]["code"], "console.csrf")
        status, doc = admin.json("POST", f"/api/v1/releases/{rq}/refuse", {"reason": "不要"},
                                 {"X-CSRF-Token": admin.csrf, "Origin": "http://evil.example"})
        self.assertEqual(status, 403)
        status, doc = admin.json("POST", f"/api/v1/releases/{rq}/refuse", {},
                                 {"X-CSRF-Token": admin.csrf})
        self.assertEqual(status, 400)
        status, doc = admin.json("POST", f"/api/v1/releases/{rq}/refuse", {"reason": "不要です"},
                                 {"X-CSRF-Token": admin.csrf})
        self.assertEqual(status, 200, doc)
        self.assertEqual(doc["result"], "refused")
        rows = json.loads(self.cli("audit", "query", "--message-id", rq, "--format", "json").stdout)
        refused = [r for r in rows if r["verdict"] == "release_refused"]
        self.assertEqual(len(refused), 1)
        self.assertIn(f"approver={ADMIN}", refused[0]["events"][0]["detail"])
        self.assertEqual(admin.json("GET", "/api/v1/releases")[1]["items"], [])

    def test_every_access_is_audited(self):
        c = self.logged_in()
        c.json("GET", "/api/v1/messages?sender=someone%40example.jp&limit=5")
        rows = self.accessed()
        details = [r["events"][0]["detail"] for r in rows]
        hit = [d for d in details if "path=/api/v1/messages " in d and "someone@example.jp" in d]
        self.assertTrue(hit, details[:5])
        self.assertIn(f"user={AUDITOR} role=auditor method=GET", hit[0])
        self.assertIn('params="sender=someone@example.jp limit=5"', hit[0])
        self.assertTrue(all(r["audit_id"].startswith("AC-") for r in rows))
        self.assertTrue(all(r["reason"].startswith("console.") for r in rows))
        self.assertEqual(self.cli("audit", "verify").returncode, 0)

    def test_stored_text_is_escaped(self):
        c = self.logged_in()
        status, _, raw, _ = c.request("GET", "/mail/" + self.audit_ids["script"])
        page = raw.decode()
        self.assertEqual(status, 200)
        self.assertIn("&lt;script&gt;alert(1)&lt;/script&gt; 確認", page)
        self.assertNotIn("<script>", page)

    def test_users_file_must_not_be_group_writable(self):
        users = self.state / "console-users"
        mode = users.stat().st_mode
        port = e2e.free_port()
        other = Serve(self.base, "perm", config_text(self.state, port))
        try:
            users.chmod(0o664)
            p = subprocess.run([str(e2e.cli_binary()), "--config", str(other.config), "serve"],
                               capture_output=True, timeout=30)
            self.assertEqual(p.returncode, 2)
            self.assertIn("group or world writable", p.stderr.decode())
        finally:
            users.chmod(mode & 0o777)

    def test_config_refuses_plain_http_off_loopback(self):
        bad = self.base / "bad.toml"
        bad.write_text('[console]\nlisten = "0.0.0.0:8025"\n')
        p = subprocess.run([str(e2e.cli_binary()), "config", "check", str(bad)],
                           capture_output=True, timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(f"{bad}:2: [console] listen", p.stdout.decode() + p.stderr.decode())
        self.assertIn("loopback", p.stdout.decode() + p.stderr.decode())

    def test_tls(self):
        cert, key = self.base / "cert.pem", self.base / "key.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
                       check=True, capture_output=True, timeout=60)
        key.chmod(0o600)
        port = e2e.free_port()
        other = Serve(self.base, "tls", config_text(
            self.state, port, f'tls_cert = "{cert}"\ntls_key = "{key}"\n'))
        other.start()
        try:
            self.assertIn(f"https://127.0.0.1:{port}", other.log.read_text())
            c = Client(port, tls=True)
            status, _, _, cookies = c.request("POST", "/api/v1/login",
                                              {"user": AUDITOR, "password": AUDITOR_PW})
            self.assertEqual(status, 200)
            session = [s for s in cookies if s.startswith("mugaika_session=")]
            self.assertEqual(len(session), 1)
            for flag in ("Secure", "HttpOnly", "SameSite=Strict", "Path=/"):
                self.assertIn(flag, session[0])
            self.assertEqual(c.json("GET", "/api/v1/verify")[0], 200)
        finally:
            other.stop()
        # The plain server's cookie is not Secure.
        _, _, _, cookies = Client(self.port).request("POST", "/api/v1/login",
                                                     {"user": AUDITOR, "password": AUDITOR_PW})
        self.assertNotIn("Secure", [s for s in cookies if s.startswith("mugaika_session=")][0])

    # ---- Browser ----

    def test_browser(self):
        for path in (CHROMIUM, CHROMEDRIVER):
            self.assertTrue(Path(path).exists(), f"{path} missing: run scripts/setup")
        from selenium import webdriver  # a missing selenium fails the test (ImportError)
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
            opts.add_argument(a)
        os.environ["SE_OFFLINE"] = "true"  # selenium-manager must never download anything
        driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
        base = f"http://127.0.0.1:{self.port}"
        try:
            driver.set_page_load_timeout(30)
            wait = WebDriverWait(driver, 15)
            driver.get(base + "/")
            self.assertTrue(driver.current_url.endswith("/login"), driver.current_url)
            self.assertEqual(driver.find_element(By.ID, "login").text, "ログイン")
            driver.find_element(By.ID, "user").send_keys(AUDITOR)
            driver.find_element(By.ID, "password").send_keys(AUDITOR_PW)
            driver.find_element(By.ID, "login").click()
            wait.until(lambda d: d.current_url == base + "/")
            form = driver.find_element(By.ID, "search-form")
            form.find_element(By.NAME, "sender").send_keys(SENDER)
            driver.find_element(By.ID, "search").click()
            wait.until(lambda d: "sender=" in d.current_url)
            table = driver.find_element(By.ID, "results")
            self.assertIn(JA_SUBJECT, table.text)
            aid = self.audit_ids["19-mixed-attachments.eml"]
            table.find_element(By.LINK_TEXT, aid).click()
            wait.until(lambda d: d.current_url.endswith("/mail/" + aid))
            text = driver.find_element(By.TAG_NAME, "main").text
            for name in ("請求書.pdf", "見積書.docx", "attachment.stripped", "text.plain"):
                self.assertIn(name, text)
            story = json.loads(self.cli("audit", "query", "--audit-id", aid, "--format",
                                        "json").stdout)[0]
            self.assertIn(story["sha256_in"], text)
            pdf = [e for e in story["events"] if e["filename"] == "請求書.pdf"][0]
            self.assertIn(pdf["sha256_before"], text)
            driver.find_element(By.ID, "nav-report").click()
            wait.until(lambda d: d.current_url.endswith("/report"))
            driver.find_element(By.ID, "show-report").click()
            wait.until(lambda d: "month=" in d.current_url)
            body = driver.find_element(By.TAG_NAME, "body").text
            self.assertIn(time.strftime("%Y", time.gmtime(time.time() + 9 * 3600)), body)
            driver.get(base + "/verify")
            self.assertIn("完全", driver.find_element(By.ID, "chain-status").text)
            self.assertRegex(driver.find_element(By.ID, "head-hash").text, r"^[0-9a-f]{64}$")
            driver.find_element(By.ID, "lang-switch").click()
            wait.until(lambda d: "lang=en" in d.current_url)
            self.assertEqual(driver.find_element(By.ID, "chain-status").text,
                             "The audit chain is whole.")
            driver.get(base + "/")  # the choice is kept in a cookie
            self.assertEqual(driver.find_element(By.ID, "search").text, "Search")
            driver.find_element(By.ID, "logout").click()
            wait.until(lambda d: d.current_url.endswith("/login"))
        finally:
            driver.quit()
        details = [r["events"][0]["detail"] for r in self.accessed()]
        self.assertTrue([d for d in details if "method=GET path=/ " in d and SENDER in d])


if __name__ == "__main__":
    unittest.main(verbosity=2)
