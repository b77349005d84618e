#!/usr/bin/env python3
"""e2e.audit_tamper: what an auditor runs against an SQLite trail changed with the sqlite3 shell.

No Postfix: `mugaika sanitize` writes the records. Then, each on a fresh copy of the database:

  * one UPDATE of one field (a subject, an event's detail) -> `audit verify` exits 3 and names
    that row's seq ("hash mismatch");
  * one DELETE of an event row in the middle -> exit 3, "gap: seq N missing";
  * one DELETE of a whole message with its events in the middle -> exit 3, a gap at its seq;
  * an inserted row with a made-up seq -> exit 3;
  * the newest message deleted with its events -> plain verify still exits 0 (the documented
    limitation), but `verify --seal` with the seal taken before exits 3 ("cut off");
  * `audit seal` on a broken chain exits 3 and prints no seal;
  * retention: `audit purge --now` 200 days later keeps a verifiable chain that starts after a
    checkpoint, and a seal taken before the purge that names a removed row is reported.
"""

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

SAMPLES = ["01-ascii-plain.eml", "02-utf8-8bit-plain.eml", "19-mixed-attachments.eml",
           "46-cdr-active-content.eml"]


class AuditTamper(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp(prefix="mugaika-audit-tamper-"))
        src = Path(os.environ["MUGAIKA_SOURCE_DIR"])
        text = (src / "config" / "mugaika.toml").read_text(encoding="utf-8")
        # No ClamAV database here; audit retention longer than the originals'.
        av = text.index("\n[antivirus]\n")
        text = text[:av] + text[av:].replace("\nenabled = true\n", "\nenabled = false\n", 1)
        text = text.replace("\nretention_days = 0\n", "\nretention_days = 100\n", 1)
        cls.config = cls.tmp / "mugaika.toml"
        cls.config.write_text(text, encoding="utf-8")
        cls.master = cls.tmp / "master"
        mail_dir = src / "samples" / "mail"
        picked = SAMPLES
        for n in picked:
            p = cls.run_cli(cls.master, "sanitize", str(mail_dir / n), "-o",
                            str(cls.tmp / "out.eml"))
            assert p.returncode in (0, 3, 5), p.stderr.decode()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def run_cli(cls, state: Path, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(e2e.cli_binary()), "--config", str(cls.config), "--state-dir",
                               str(state), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=120)

    def copy(self, name: str) -> Path:
        state = self.tmp / name
        shutil.copytree(self.master, state)
        return state

    def sql(self, state: Path, statement: str) -> str:
        p = subprocess.run(["sqlite3", str(state / "audit.db"), statement],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        return p.stdout.decode().strip()

    def verify(self, state: Path, *extra: str) -> tuple[int, str]:
        p = self.run_cli(state, "audit", "verify", *extra)
        return p.returncode, p.stdout.decode() + p.stderr.decode()

    def test_clean_chain_verifies(self):
        rc, out = self.verify(self.copy("clean"))
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"audit chain ok: \d+ rows, head seq \d+ hash [0-9a-f]{64}")

    def test_update_of_one_field(self):
        state = self.copy("update")
        seq = self.sql(state, "SELECT seq FROM messages WHERE verdict='sanitized' ORDER BY seq "
                              "LIMIT 1")
        self.sql(state, f"UPDATE messages SET subject='(changed)' WHERE seq={seq}")
        rc, out = self.verify(state)
        self.assertEqual(rc, 3, out)
        self.assertIn(f"BROKEN at seq {seq}: hash mismatch", out)
        state = self.copy("update-event")
        eseq = self.sql(state, "SELECT seq FROM events ORDER BY seq LIMIT 1 OFFSET 3")
        self.sql(state, f"UPDATE events SET detail=detail || ' x=1' WHERE seq={eseq}")
        rc, out = self.verify(state)
        self.assertEqual(rc, 3, out)
        self.assertIn(f"BROKEN at seq {eseq}: hash mismatch", out)

    def test_delete_of_one_event(self):
        state = self.copy("delete-event")
        eseq = self.sql(state, "SELECT seq FROM events ORDER BY seq LIMIT 1 OFFSET 4")
        self.sql(state, f"DELETE FROM events WHERE seq={eseq}")
        rc, out = self.verify(state)
        self.assertEqual(rc, 3, out)
        self.assertIn(f"BROKEN at seq {eseq}: gap: seq {eseq} missing", out)

    def test_delete_of_a_message_in_the_middle(self):
        state = self.copy("delete-message")
        seq = self.sql(state, "SELECT seq FROM messages ORDER BY seq LIMIT 1 OFFSET 2")
        self.sql(state, f"DELETE FROM events WHERE message_seq={seq}; "
                        f"DELETE FROM messages WHERE seq={seq}")
        rc, out = self.verify(state)
        self.assertEqual(rc, 3, out)
        self.assertIn(f"gap: seq {seq} missing", out)

    def test_inserted_row(self):
        state = self.copy("insert")
        self.sql(state, "INSERT INTO events SELECT 100000, message_seq, idx + 100, part_path, "
                        "filename, declared_type, detected_type, size, sha256_before, "
                        "sha256_after, filter, action, rule, reason, detail, duration_us, "
                        "prev_hash, row_hash FROM events ORDER BY seq LIMIT 1")
        rc, out = self.verify(state)
        self.assertEqual(rc, 3, out)
        self.assertIn("BROKEN", out)

    def test_seal_catches_a_cut_off_tail(self):
        state = self.copy("seal")
        p = self.run_cli(state, "audit", "seal")
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        seal = p.stdout.decode().splitlines()[0]
        self.assertRegex(seal, r"^mugaika-seal:v1:\d+:[0-9a-f]{64}:\d+$")
        rc, out = self.verify(state, "--seal", seal)
        self.assertEqual(rc, 0, out)
        self.assertIn("seals matched: 1", out)
        last = self.sql(state, "SELECT max(seq) FROM messages")
        self.sql(state, f"DELETE FROM events WHERE message_seq={last}; "
                        f"DELETE FROM messages WHERE seq={last}")
        rc, out = self.verify(state)
        self.assertEqual(rc, 0, out)  # the limitation a seal exists for
        rc, out = self.verify(state, "--seal", seal)
        self.assertEqual(rc, 3, out)
        self.assertIn("rows were cut off", out)
        # A broken chain is never sealed.
        self.sql(state, "UPDATE messages SET subject='x' WHERE seq=1")
        p = self.run_cli(state, "audit", "seal")
        self.assertEqual(p.returncode, 3)
        self.assertNotIn("mugaika-seal:", p.stdout.decode())

    def test_retention_keeps_a_verifiable_chain(self):
        state = self.copy("retention")
        seal = self.run_cli(state, "audit", "seal").stdout.decode().splitlines()[0]
        first_seq_hash = self.sql(state, "SELECT row_hash FROM messages WHERE seq=1")
        p = self.run_cli(state, "audit", "purge", "--now", "2099-01-01", "--as", "auditor-test")
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        self.assertRegex(p.stdout.decode(), r"removed \d+ records .* checkpoint CP-")
        rc, out = self.verify(state)
        self.assertEqual(rc, 0, out)
        self.assertIn("retained from seq", out)
        rc, out = self.verify(state, "--seal", seal)  # the seal names the last removed row
        self.assertEqual(rc, 0, out)
        rc, out = self.verify(state, "--seal", f"1:{first_seq_hash}")
        self.assertEqual(rc, 3, out)
        self.assertIn("removed by retention", out)
        rows = json.loads(self.run_cli(state, "audit", "query", "--verdict", "checkpoint",
                                       "--format", "json").stdout.decode())
        self.assertEqual(len(rows), 1)
        self.assertIn("by=auditor-test", rows[0]["events"][0]["detail"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
