#!/usr/bin/env python3
"""e2e.release: releasing a kept original with four-eyes approval, through a real Postfix.

A mail with a PDF attachment goes through the "internet" service and the milter: it arrives
sanitized, the attachment stripped. Then, with the CLI on the same state dir and config:
  * `quarantine request AUDIT --all --as alice`; `approve --as alice` is refused (exit 3, audited
    as release_denied); `approve --as bob` delivers through the harness's third smtpd listener,
    which has no milter ([release] relay). The delivered mail, after the lines Postfix added
    (Return-Path, Delivered-To, Received) and the X-Mugaika-Released field, equals the bytes that
    were sent over SMTP (the exported original), so it was not sanitized again: no
    X-Mugaika-Sanitized, the PDF still inside, and no new mail record in the audit trail.
  * `quarantine request AUDIT --part 2 --as alice`; approving it with an unreachable relay exits
    4 and leaves it pending; `approve --as bob` then delivers a new mail whose attachment has the
    original file name and bytes.
  * `quarantine requests --all --format json` and `audit query --format json` show the requests
    and decisions; `audit verify` exits 0.
"""

import json
import re
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mugaika_e2e as e2e  # noqa: E402

PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
MID = "<release-1@e2e.mugaika.test>"
RELEASED_RE = re.compile(r"^request=(RQ-[0-9]{8}-[0-9]{6}-[0-9a-f]{8}); audit=(MG-[0-9A-Za-z-]+);"
                         r" approved-by=bob$")
TRACE = (b"return-path:", b"x-original-to:", b"delivered-to:", b"received:")


def split_release(raw: bytes) -> tuple[list[bytes], bytes, bytes]:
    """(fields before X-Mugaika-Released, that field's line, the rest) of a delivered mail."""
    before: list[bytes] = []
    rest = raw
    while rest:
        line, _, after = rest.partition(b"\n")
        if line.lower().startswith(b"x-mugaika-released:"):
            return before, line, after
        if line[:1] in (b" ", b"\t") and before:
            before[-1] += b"\n" + line
        else:
            before.append(line)
        rest = after
    raise AssertionError("no X-Mugaika-Released field")


class Release(unittest.TestCase):
    def test_release_with_approval(self):
        with e2e.Harness() as h:
            h.start_milter()
            body = "添付の請求書をご確認ください。\n.この行は点で始まります\n"
            sent = e2e.make_mail("請求書の送付", body, MID,
                                 [("請求書.pdf", "application/pdf", PDF)])
            self.assertEqual(h.send(sent)[0], 250)
            h.wait_drained()
            got = h.delivered()
            self.assertEqual(len(got), 1)
            self.assertEqual(e2e.sanitized_problems(got[0]), [])
            self.assertNotIn(b"%PDF", got[0].raw)
            audit_id = e2e.AUDIT_ID_RE.search(got[0].header("X-Mugaika-Sanitized")).group(0)
            original = h.export_original(audit_id)
            self.assertEqual(original, sent if sent.endswith(b"\r\n") else sent + b"\r\n")
            show = h.cli("quarantine", "show", audit_id).stdout.decode()
            self.assertRegex(show, r"\n  2 +strip .*請求書\.pdf\n")
            mails_before = [r for r in h.audit_rows() if r["audit_id"].startswith("MG-")]
            h.postfix.clear_maildir()

            # --all: the requester cannot approve; another person can.
            p = h.cli("quarantine", "request", audit_id, "--all", "--to",
                      "kanri@city.example.lg.jp", "--reason", "原本の確認のため", "--as", "alice",
                      config=True)
            rq_all = p.stdout.decode().strip()
            self.assertRegex(rq_all, r"^RQ-[0-9]{8}-[0-9]{6}-[0-9a-f]{8}$")
            p = h.cli("quarantine", "approve", rq_all, "--as", "alice", config=True, check=False)
            self.assertEqual(p.returncode, 3, p.stderr.decode())
            self.assertIn("release.same_person", p.stderr.decode())
            p = h.cli("quarantine", "approve", rq_all, "--as", "bob", config=True, check=False)
            self.assertEqual(p.returncode, 0, p.stderr.decode())
            h.wait_drained()
            got = h.delivered()
            self.assertEqual(len(got), 1, got)
            d = got[0]
            before, field, rest = split_release(d.raw)
            for f in before:
                self.assertTrue(f.lower().startswith(TRACE), f"unexpected field before: {f!r}")
            self.assertTrue(any(b"by mx.e2e.mugaika.test" in f for f in before), before)
            m = RELEASED_RE.match(field.decode().split(":", 1)[1].strip())
            self.assertIsNotNone(m, field)
            self.assertEqual(m.group(1), rq_all)
            self.assertEqual(m.group(2), audit_id)
            # virtual(8) stores LF line ends; apart from that, byte for byte what was sent.
            self.assertEqual(rest, original.replace(b"\r\n", b"\n"))
            self.assertIsNone(d.msg.get("X-Mugaika-Sanitized"))
            pdfs = [p for p in d.leaves() if p.get_content_type() == "application/pdf"]
            self.assertEqual([p.get_payload(decode=True) for p in pdfs], [PDF])
            self.assertIn(b"kanri@city.example.lg.jp", d.raw.split(b"\n\n", 1)[0])
            h.postfix.clear_maildir()

            # --part 2: a relay that is down leaves the request pending (exit 4), then delivery.
            p = h.cli("quarantine", "request", audit_id, "--part", "2", "--to",
                      "kanri@city.example.lg.jp", "--reason", "請求書のみ", "--as", "alice",
                      config=True)
            rq_part = p.stdout.decode().strip()
            down = h.base / "relay-down.toml"
            down.write_text(e2e.make_config(h.state_dir, h.milter_socket,
                                            release_relay=f"127.0.0.1:{e2e.free_port()}"))
            p = e2e.subprocess.run([str(e2e.cli_binary()), "--config", str(down), "quarantine",
                                    "approve", rq_part, "--as", "bob"],
                                   stdout=e2e.subprocess.PIPE, stderr=e2e.subprocess.PIPE)
            self.assertEqual(p.returncode, 4, p.stderr.decode())
            self.assertIn("release.smtp_failed", p.stderr.decode())
            pending = json.loads(h.cli("quarantine", "requests", "--format", "json").stdout)
            self.assertEqual([r["request_id"] for r in pending], [rq_part])
            self.assertEqual(pending[0]["attempts_failed"], 1)
            p = h.cli("quarantine", "approve", rq_part, "--as", "bob", config=True, check=False)
            self.assertEqual(p.returncode, 0, p.stderr.decode())
            h.wait_drained()
            got = h.delivered()
            self.assertEqual(len(got), 1, got)
            d = got[0]
            self.assertRegex(d.header("X-Mugaika-Released"), RELEASED_RE)
            self.assertIn(rq_part, d.header("X-Mugaika-Released"))
            self.assertIsNone(d.msg.get("X-Mugaika-Sanitized"))
            atts = [p for p in d.leaves() if p.get_content_disposition() == "attachment"]
            self.assertEqual(len(atts), 1)
            self.assertEqual(atts[0].get_filename(), "請求書.pdf")
            self.assertEqual(atts[0].get_content_type(), "application/pdf")
            self.assertEqual(atts[0].get_payload(decode=True), PDF)
            self.assertIn(audit_id, d.text())
            self.assertIn(b"filename*=", d.raw)  # RFC 2231 for the Japanese name

            # The trail: requests, the denied self-approval, the failure, both deliveries.
            listed = json.loads(h.cli("quarantine", "requests", "--all", "--format",
                                      "json").stdout)
            states = {r["request_id"]: (r["state"], r["requester"], r["decided_by"])
                      for r in listed}
            self.assertEqual(states, {rq_all: ("released", "alice", "bob"),
                                      rq_part: ("released", "alice", "bob")})
            self.assertEqual(json.loads(h.cli("quarantine", "requests", "--format",
                                              "json").stdout), [])
            rows = h.audit_rows()
            verdicts = sorted((r["message_id"], r["verdict"]) for r in rows
                              if r["message_id"].startswith("RQ-"))
            self.assertEqual(verdicts, sorted([
                (rq_all, "release_requested"), (rq_all, "release_denied"), (rq_all, "released"),
                (rq_part, "release_requested"), (rq_part, "release_failed"),
                (rq_part, "released")]))
            for r in rows:
                if r["verdict"] == "released":
                    detail = r["events"][0]["detail"]
                    self.assertIn("approver=bob", detail)
                    self.assertIn("requester=alice", detail)
                    self.assertEqual(r["events"][0]["filter"], "release")
                    self.assertEqual(r["quarantine_id"], mails_before[0]["quarantine_id"])
            # Released mail was not sanitized again: still one mail record.
            self.assertEqual([r for r in rows if r["audit_id"].startswith("MG-")], mails_before)
            self.assertIn("audit chain ok", h.audit_verify())


if __name__ == "__main__":
    e2e.require_root()
    unittest.main(verbosity=2)
