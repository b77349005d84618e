#!/usr/bin/env python3
"""e2e.clamd: [antivirus] mode = "clamd" against Debian's real clamd, started by the test in the
foreground with a clamd.conf of its own (unix socket in the test's directory, the test's EICAR
signature database, no TCP) and stopped by it.

Command line (`mugaika --config X sanitize`): a clean mail is delivered (exit 0, av=clean,
av_mode=clamd in the audit); an EICAR attachment is refused (exit 3, the signature clamd named in
`audit query --format json`); an attachment longer than clamd's StreamMaxLength is incomplete and
stripped, never clean; a clamd that accepts the connection but cannot scan makes the mail a
temporary failure (exit 4, original kept); with clamd stopped `sanitize` does not start (exit 1,
a message naming clamd_socket).

Milter through a private Postfix: EICAR refused with 550; clamd stopped while the milter runs
gives 451 with the original kept, and once clamd is back the same mail is delivered without a
restart of the milter; a milter started while clamd is down does not start."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mugaika_e2e as e2e  # noqa: E402

CLAMD_NAME = e2e.EICAR_SIGNATURE_NAME + ".UNOFFICIAL"  # clamd adds the suffix to own signatures


def clamd_settings(clamd: e2e.Clamd, timeout: str = "30s") -> str:
    return f'mode = "clamd"\nclamd_socket = "{clamd.socket}"\nclamd_timeout = "{timeout}"\n'


class ClamdCli(unittest.TestCase):
    def setUp(self):
        e2e.cleanup_stale()
        self.base = Path(tempfile.mkdtemp(prefix=e2e.TMP_PREFIX))
        os.chmod(self.base, 0o755)
        (self.base / "owner.pid").write_text(str(os.getpid()))
        self.state = self.base / "state"
        self.clamd = e2e.Clamd(self.base, e2e.write_test_clamav_database(self.base / "clamav"),
                               stream_max="1M")
        self.addCleanup(self.cleanup)
        started = self.clamd.start()
        sys.stderr.write(f"\nclamd answered PING {started:.3f} s after it was started\n")
        self.config = self.base / "mugaika.toml"
        self.config.write_text(e2e.make_config(self.state, f"unix:{self.base}/unused.sock",
                                               antivirus=clamd_settings(self.clamd)))

    def cleanup(self):
        self.clamd.stop()
        if os.environ.get("MUGAIKA_E2E_KEEP"):
            sys.stderr.write(f"kept {self.base}\n")
        else:
            shutil.rmtree(self.base, ignore_errors=True)

    def mugaika(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(e2e.cli_binary()), "--config", str(self.config), *args],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)

    def sanitize(self, mail: bytes, name: str) -> subprocess.CompletedProcess:
        src = self.base / f"{name}.eml"
        src.write_bytes(mail)
        return self.mugaika("sanitize", str(src), "-o", str(self.base / f"{name}.out.eml"))

    def rows(self) -> dict[str, dict]:
        p = self.mugaika("audit", "query", "--format", "json", "--limit", "0")
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        return {r["message_id"]: r for r in json.loads(p.stdout.decode() or "[]")}

    @staticmethod
    def event(row: dict, reason: str) -> dict | None:
        return next((e for e in row["events"] if e["reason"] == reason), None)

    def test_sanitize_through_clamd(self):
        # A clean mail: delivered, scanned by clamd (whole message and part).
        clean = e2e.make_mail("会議のお知らせ", "明日の会議は10時からです。\n", "<clamd-clean@e2e.mugaika.test>")
        p = self.sanitize(clean, "clean")
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        row = self.rows()["<clamd-clean@e2e.mugaika.test>"]
        self.assertEqual(row["verdict"], "sanitized")
        message_scan = self.event(row, "av.message_clean")
        self.assertIsNotNone(message_scan, row["events"])
        self.assertIn("av_mode=clamd", message_scan["detail"])
        body = next(e for e in row["events"] if e.get("part_path") == "1")
        self.assertIn("av=clean", body["detail"])

        # EICAR in an attachment: refused, with the name clamd gave.
        bad = e2e.make_mail("請求書の送付", "請求書を添付します。\n", "<clamd-eicar@e2e.mugaika.test>",
                            [("請求書.pdf", "application/pdf", e2e.eicar())])
        p = self.sanitize(bad, "eicar")
        self.assertEqual(p.returncode, 3, p.stderr.decode())
        self.assertFalse((self.base / "eicar.out.eml").exists())
        row = self.rows()["<clamd-eicar@e2e.mugaika.test>"]
        self.assertEqual(row["verdict"], "rejected")
        self.assertEqual(row["reason"], "av.infected")
        part = next(e for e in row["events"] if e.get("part_path") == "2")
        self.assertEqual(part["rule"], "av-infected-reject")
        self.assertIn("av=infected", part["detail"])
        self.assertIn(f"signatures={CLAMD_NAME}", part["detail"])
        self.assertIn(CLAMD_NAME, self.event(row, "av.message_infected")["detail"])

        # Longer than clamd's StreamMaxLength (1M here): clamd refuses it, so the attachment and
        # the whole message are incomplete, never clean; the shipped rule strips the part.
        big = e2e.make_mail("図面", "図面を送ります。\n", "<clamd-big@e2e.mugaika.test>",
                            [("図面.bin", "application/octet-stream", os.urandom(2 << 20))])
        p = self.sanitize(big, "big")
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        row = self.rows()["<clamd-big@e2e.mugaika.test>"]
        self.assertIsNotNone(self.event(row, "av.message_incomplete"), row["events"])
        part = next(e for e in row["events"] if e.get("part_path") == "2")
        self.assertEqual(part["reason"], "av.incomplete")
        self.assertIn("av=incomplete", part["detail"])
        self.assertIn("av_reason=limits.exceeded", part["detail"])
        out = (self.base / "big.out.eml").read_bytes()
        self.assertNotIn(b"application/octet-stream", out)

        # clamd answers PING but cannot scan (its temporary directory is gone: it closes the
        # connection without a verdict): a temporary failure, the original kept.
        self.clamd.tmp.rmdir()
        retry = e2e.make_mail("再送", "本文です。\n", "<clamd-broken@e2e.mugaika.test>")
        p = self.sanitize(retry, "broken")
        self.assertEqual(p.returncode, 4, p.stderr.decode())
        self.assertFalse((self.base / "broken.out.eml").exists())
        row = self.rows()["<clamd-broken@e2e.mugaika.test>"]
        self.assertEqual(row["verdict"], "tempfail")
        self.assertEqual(row["reason"], "av.unavailable")
        export = self.base / "broken.export.eml"
        p = self.mugaika("quarantine", "export", row["audit_id"], "-o", str(export))
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        self.assertEqual(export.read_bytes(), retry)
        self.clamd.tmp.mkdir()

        # clamd stopped: sanitize does not start, as without a database in process.
        self.clamd.stop()
        before = len(self.rows())
        p = self.sanitize(retry, "stopped")
        self.assertEqual(p.returncode, 1, p.stderr.decode())
        err = p.stderr.decode()
        self.assertIn("av.unavailable", err)
        self.assertIn(str(self.clamd.socket), err)
        self.assertIn("clamd_socket", err)
        self.assertFalse((self.base / "stopped.out.eml").exists())
        self.assertEqual(len(self.rows()), before)

        p = self.mugaika("audit", "verify")
        self.assertEqual(p.returncode, 0, p.stderr.decode())


class ClamdMilter(unittest.TestCase):
    def test_milter_through_clamd(self):
        with e2e.Harness() as h, e2e.Clamd(h.base, e2e.write_test_clamav_database(
                h.base / "clamd-db")) as clamd:
            clamd.start()
            config = h.milter_config(antivirus=clamd_settings(clamd, timeout="20s"))
            h.start_milter(config)

            bad = e2e.make_mail("請求書の送付", "請求書を添付します。\n", "<clamd-milter-eicar@e2e.mugaika.test>",
                                [("請求書.pdf", "application/pdf", e2e.eicar())])
            with self.assertRaises(e2e.SmtpError) as cm:
                h.send(bad)
            self.assertEqual(cm.exception.code, 550, str(cm.exception))
            self.assertIn("av.infected", cm.exception.message)

            # clamd stops while the milter runs: 451, the original kept; nothing delivered.
            clamd.stop()
            mail = e2e.make_mail("お知らせ", "本文です。\n", "<clamd-milter-down@e2e.mugaika.test>")
            with self.assertRaises(e2e.SmtpError) as cm:
                h.send(mail)
            self.assertEqual(cm.exception.code, 451, str(cm.exception))
            self.assertIn("av.unavailable", cm.exception.message)
            audit_id = e2e.AUDIT_ID_RE.search(cm.exception.message).group(0)
            sent = mail if mail.endswith(b"\r\n") else mail + b"\r\n"
            self.assertEqual(h.export_original(audit_id), sent)

            # clamd back: the same mail goes through, the milter was not restarted.
            worker = h.milter.worker_pid()
            clamd.start()
            self.assertEqual(h.send(mail)[0], 250)
            h.wait_drained()
            self.assertEqual([d.message_id for d in h.delivered()],
                             ["<clamd-milter-down@e2e.mugaika.test>"])
            self.assertEqual(h.milter.worker_pid(), worker)

            rows = [r for r in h.audit_rows()
                    if r["message_id"] == "<clamd-milter-down@e2e.mugaika.test>"]
            self.assertEqual(sorted((r["verdict"], r["reason"]) for r in rows),
                             [("sanitized", "sanitized"), ("tempfail", "av.unavailable")])
            self.assertIn("audit chain ok", h.audit_verify())

            # A milter started while clamd is down does not start: each worker ends at start,
            # and the supervisor gives up (exit 1) after more than 10 restarts within 60 s.
            h.stop_milter()
            clamd.stop()
            p = subprocess.run([str(e2e.milter_binary()), "--config", str(h.milter.config_path),
                                "--foreground"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=120)
            log = p.stdout.decode(errors="replace")
            self.assertEqual(p.returncode, 1, log)
            self.assertIn("cannot start: av.unavailable", log)
            self.assertIn(str(clamd.socket), log)


if __name__ == "__main__":
    e2e.require_root()
    unittest.main(verbosity=2)
