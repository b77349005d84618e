#!/usr/bin/env python3
"""e2e.antivirus: a mail carrying the EICAR test file in an attachment is refused by Postfix at the
end of DATA with 550 5.7.1, the reason av.infected and the audit id; it is never delivered, its
audit record names the signature, and its original is kept byte for byte. The same mail without
the attachment is delivered sanitized. The signature database is written by the test (the
official one cannot be downloaded here): libclamav, in the milter, really scans."""

import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mugaika_e2e as e2e  # noqa: E402


class Antivirus(unittest.TestCase):
    def test_eicar_is_refused_and_audited(self):
        with e2e.Harness() as h:
            h.start_milter(h.milter_config())
            bad = e2e.make_mail("請求書の送付", "請求書を添付します。\n", "<av-eicar@e2e.mugaika.test>",
                                [("請求書.pdf", "application/pdf", e2e.eicar())])
            with self.assertRaises(e2e.SmtpError) as cm:
                h.send(bad)
            err = cm.exception
            self.assertEqual(err.code, 550, str(err))
            self.assertRegex(err.message, r"^5\.7\.1 ")
            self.assertIn("av.infected", err.message)
            m = e2e.AUDIT_ID_RE.search(err.message)
            self.assertIsNotNone(m, f"no audit id in the reply: {err.message}")
            audit_id = m.group(0)

            good = e2e.make_mail("請求書の送付", "請求書は郵送します。\n", "<av-clean@e2e.mugaika.test>")
            self.assertEqual(h.send(good)[0], 250)
            h.wait_drained()
            mids = [d.message_id for d in h.delivered()]
            self.assertEqual(mids, ["<av-clean@e2e.mugaika.test>"])

            rows = {r["message_id"]: r for r in h.audit_rows()}
            r = rows["<av-eicar@e2e.mugaika.test>"]
            self.assertEqual(r["audit_id"], audit_id)
            self.assertEqual(r["verdict"], "rejected")
            self.assertEqual(r["reason"], "av.infected")
            details = " ".join(e.get("detail", "") for e in r["events"])
            self.assertIn(e2e.EICAR_SIGNATURE_NAME, details)
            sent = bad if bad.endswith(b"\r\n") else bad + b"\r\n"
            self.assertEqual(h.export_original(audit_id), sent)
            self.assertIn("audit chain ok", h.audit_verify())


if __name__ == "__main__":
    e2e.require_root()
    unittest.main(verbosity=2)
