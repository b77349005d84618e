#!/usr/bin/env python3
"""e2e.hold: the rule actions "quarantine" and "discard" through a real Postfix.

Site rules placed before the shipped ones hold every password-protected archive (quarantine) and
drop every archive holding a program (discard). For both, Postfix accepts the mail (250: the
sender is not told, as with any quarantine) and delivers nothing: the milter answers DISCARD, not
Postfix's hold queue, so no unsanitized copy waits in Postfix's queue. The audit record says
quarantined / discarded with the rule, and the original is kept byte for byte for a release. A
mail that neither rule matches, sent through the same connection pool, is delivered sanitized.
An admin then releases the held mail with approval, and it arrives byte for byte. The samples
come from samples/mail/make_archive_samples.py."""

import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mugaika_e2e as e2e  # noqa: E402

HOLD_RULES = """\
[[rules]]
id = "hold-ppap"
description = "Password-protected archives wait for an admin"
encrypted = true
action = "quarantine"

[[rules]]
id = "drop-programs"
description = "Archives holding programs are dropped"
contains = ["executable"]
action = "discard"
"""

SAMPLES = e2e.SOURCE_DIR / "samples/mail"


class Hold(unittest.TestCase):
    def test_quarantine_and_discard_accept_and_deliver_nothing(self):
        with e2e.Harness() as h:
            h.start_milter(h.milter_config(extra_rules=HOLD_RULES))
            ppap = (SAMPLES / "43-ppap-encrypted-zip.eml").read_bytes()
            tools = (SAMPLES / "44-zip-with-program-and-macro.eml").read_bytes()
            nested = (SAMPLES / "45-nested-zip.eml").read_bytes()
            for mail in (ppap, tools, nested):
                code, reply = h.send(mail)
                self.assertEqual(code, 250, reply)
            h.wait_drained()

            got = h.delivered()
            self.assertEqual([d.message_id for d in got], ["<45.sample@mugaika.example>"])
            self.assertEqual(e2e.sanitized_problems(got[0]), [])
            self.assertIn("議事録.zip", got[0].text())

            rows = {r["message_id"]: r for r in h.audit_rows()}
            held = rows["<43.sample@mugaika.example>"]
            self.assertEqual(held["verdict"], "quarantined")
            self.assertEqual(held["reason"], "rule.quarantine")
            self.assertIn("hold-ppap", [e["rule"] for e in held["events"]])
            dropped = rows["<44.sample@mugaika.example>"]
            self.assertEqual(dropped["verdict"], "discarded")
            self.assertIn("drop-programs", [e["rule"] for e in dropped["events"]])
            self.assertEqual(rows["<45.sample@mugaika.example>"]["verdict"], "sanitized")

            # The kept original is what the client sent, ready for a release.
            self.assertEqual(h.export_original(held["audit_id"]), ppap)
            self.assertEqual(h.export_original(dropped["audit_id"]), tools)
            # Postfix discarded them on the milter's word: nothing waits in its queues.
            self.assertEqual(sum(h.postfix.queue_files().values()), 0)
            self.assertIn("milter triggers DISCARD action", h.postfix.maillog_text())
            listing = h.cli("quarantine", "list", "--format", "json").stdout
            self.assertIn(held["audit_id"].encode(), listing)

            # An admin releases the held original: it arrives through the release relay (no
            # milter) byte for byte, after the trace and X-Mugaika-Released fields.
            h.postfix.clear_maildir()
            rq = h.cli("quarantine", "request", held["audit_id"], "--all", "--to",
                       "soumu@city.example.lg.jp", "--reason", "送信者に確認済み", "--as", "alice",
                       config=True).stdout.decode().strip()
            p = h.cli("quarantine", "approve", rq, "--as", "bob", config=True, check=False)
            self.assertEqual(p.returncode, 0, p.stderr.decode())
            h.wait_drained()
            got = h.delivered()
            self.assertEqual(len(got), 1)
            head, sep, rest = got[0].raw.partition(b"\nX-Mugaika-Released: ")
            self.assertTrue(sep, got[0].raw[:400])
            self.assertEqual(rest.split(b"\n", 1)[1], ppap.replace(b"\r\n", b"\n"))
            self.assertIn("audit chain ok", h.audit_verify())


if __name__ == "__main__":
    e2e.require_root()
    unittest.main(verbosity=2)
