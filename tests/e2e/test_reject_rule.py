#!/usr/bin/env python3
"""e2e.reject_rule: a rule `extension = ["exe"], action = "reject"` placed before the shipped rules
makes Postfix refuse such a mail at the end of DATA with 550 5.7.1 and the audit id in the reply;
it is never delivered, its audit record says rejected with that audit id, and its original is
kept. A harmless mail sent right after it through the same gateway is delivered sanitized."""

import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mugaika_e2e as e2e  # noqa: E402


class RejectRule(unittest.TestCase):
    def test_exe_is_refused_and_not_delivered(self):
        with e2e.Harness() as h:
            h.start_milter(h.milter_config(extra_rules=e2e.REJECT_EXE_RULE))
            bad = e2e.make_mail("ツールを送ります", "添付のツールを実行してください。\n",
                                "<reject-exe@e2e.mugaika.test>",
                                [("tool.exe", "application/octet-stream", e2e.exe_bytes())])
            with self.assertRaises(e2e.SmtpError) as cm:
                h.send(bad)
            err = cm.exception
            self.assertEqual(err.code, 550, str(err))
            self.assertEqual(err.stage, "data", str(err))
            self.assertRegex(err.message, r"^5\.7\.1 ")
            m = e2e.AUDIT_ID_RE.search(err.message)
            self.assertIsNotNone(m, f"no audit id in the reply: {err.message}")
            audit_id = m.group(0)
            self.assertIn("rule.reject", err.message)

            good = e2e.make_mail("通常のメール", "本文です。\n", "<reject-good@e2e.mugaika.test>")
            self.assertEqual(h.send(good)[0], 250)
            h.wait_drained()

            got = h.delivered()
            mids = [d.message_id for d in got]
            self.assertNotIn("<reject-exe@e2e.mugaika.test>", mids)
            self.assertEqual(mids, ["<reject-good@e2e.mugaika.test>"])
            self.assertEqual(e2e.sanitized_problems(got[0]), [])

            rows = {r["message_id"]: r for r in h.audit_rows()}
            r = rows["<reject-exe@e2e.mugaika.test>"]
            self.assertEqual(r["audit_id"], audit_id)
            self.assertEqual(r["verdict"], "rejected")
            self.assertIn("reject-exe", [e["rule"] for e in r["events"]])
            sent = bad if bad.endswith(b"\r\n") else bad + b"\r\n"
            self.assertEqual(h.export_original(audit_id), sent)
            self.assertIn("audit chain ok", h.audit_verify())


if __name__ == "__main__":
    e2e.require_root()
    unittest.main(verbosity=2)
