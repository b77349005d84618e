#!/usr/bin/env python3
"""e2e.directions: the same mail, byte for byte, through both smtpd services; once a plain
text/plain mail, once a multipart one (HTML alternative plus a PDF attachment). Through "lgwan" (milter_macro_daemon_name=lgwan, outbound) it
arrives unchanged except for an added `X-Mugaika-Sanitized: ...; mode=pass`; through "internet"
(inbound) it arrives as one text/plain part with the notice, the attachment listed. The audit
trail holds one outbound and one inbound record for it."""

import sys
import unittest
from email.message import EmailMessage
import email.policy
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mugaika_e2e as e2e  # noqa: E402
from test_samples import header_lines, strip_postfix_trace  # noqa: E402

MID = "<directions@e2e.mugaika.test>"


def plain_mail() -> bytes:
    return e2e.make_mail("請求書の件", "請求書を受領しました。\n４月３０日までにお支払いします。\n", MID,
                         sender="kimura@city.example.lg.jp", to="billing@example.com")


def the_mail() -> bytes:
    m = EmailMessage(policy=email.policy.SMTP)
    m["From"] = "kimura@city.example.lg.jp"
    m["To"] = "billing@example.com"
    m["Subject"] = "請求書の件"
    m["Date"] = "Mon, 21 Apr 2025 13:10:00 +0900"
    m["Message-ID"] = MID
    m.set_content("請求書を受領しました。\n")
    m.add_alternative("<html><body><p>請求書を<b>受領</b>しました。</p>"
                      "<script>alert(1)</script></body></html>", subtype="html")
    m.add_attachment(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n",
                     maintype="application", subtype="pdf", filename="請求書.pdf")
    return m.as_bytes()


class Directions(unittest.TestCase):
    def test_plain_mail(self):
        self.check(plain_mail(), multipart=False)

    def test_multipart_mail(self):
        self.check(the_mail(), multipart=True)

    def check(self, mail: bytes, multipart: bool):
        with e2e.Harness() as h:
            h.start_milter()
            self.assertEqual(h.send(mail, h.lgwan_port, "kimura@city.example.lg.jp",
                                    ["billing@example.com"])[0], 250)
            h.wait_drained()
            self.assertEqual(h.send(mail, h.internet_port, "billing@example.com",
                                    ["kimura@city.example.lg.jp"])[0], 250)
            h.wait_drained()
            got = h.delivered()
            self.assertEqual(len(got), 2, got)
            by_mode = {}
            for d in got:
                stamp = d.header("X-Mugaika-Sanitized")
                by_mode["pass" if "mode=pass" in stamp else "text" if "mode=text" in stamp
                        else stamp] = d
            self.assertEqual(sorted(by_mode), ["pass", "text"],
                             "modes: " + str([d.header("X-Mugaika-Sanitized") for d in got]))

            out = by_mode["pass"]
            self.assertEqual(e2e.sanitized_problems(out, "pass"), [])
            sent = mail.replace(b"\r\n", b"\n")
            sent_head, sent_body = sent.split(b"\n\n", 1)
            got_head, got_body = out.raw.split(b"\n\n", 1)
            self.assertEqual(got_body, sent_body, "outbound body changed")
            fields = [f for f in strip_postfix_trace(header_lines(got_head))
                      if not f.lower().startswith(b"x-mugaika-sanitized:")]
            self.assertEqual(fields, header_lines(sent_head), "outbound headers changed")

            inb = by_mode["text"]
            self.assertEqual(e2e.sanitized_problems(inb, "text"), [])
            text = inb.text()
            self.assertIn("受領", text)
            if multipart:
                self.assertIn("請求書.pdf", text)
                self.assertNotIn("alert(1)", text)
            self.assertEqual(inb.header("Subject"), "請求書の件")
            self.assertEqual(inb.message_id, MID)

            rows = [r for r in h.audit_rows() if r["message_id"] == MID]
            self.assertEqual(sorted(r["direction"] for r in rows), ["inbound", "outbound"])
            for r in rows:
                self.assertEqual(r["verdict"],
                                 "passed" if r["direction"] == "outbound" else "sanitized")
                self.assertEqual(h.export_original(r["audit_id"]), mail)


if __name__ == "__main__":
    e2e.require_root()
    unittest.main(verbosity=2)
