#!/usr/bin/env python3
"""e2e.samples: every samples/mail/*.eml through a real Postfix and mugaika-milter.

Inbound samples go to the "internet" smtpd service, samples whose name holds "outbound" to the
"lgwan" service (as the golden test treats them). For every sample:
  * refused ones (NAME.expected.refused = "reject CODE") get 550 at the end of DATA, with the
    audit id in the reply, are never delivered, and their audit record has reason CODE;
  * delivered ones arrive exactly once, X-Mugaika-Sanitized says mode=text (mode=pass for
    outbound); inbound ones are the text body with the notice (無害化通知) followed only by files
    a CDR engine rebuilt (X-Mugaika-CDR), and
    - the header block equals the golden NAME.expected.eml's (audit ids normalized, Postfix's own
      Return-Path/X-Original-To/Delivered-To/Received lines removed, CRLF -> LF);
    - the decoded body text equals the golden one (audit ids normalized);
    - the rebuilt files are byte for byte those of the golden (engine, name, type, SHA-256);
  * exactly one audit record per Message-ID, verdict sanitized/rejected, direction right;
  * `quarantine export` gives back exactly the bytes the client sent, as Postfix hands them to the
    milter: the sample itself, plus CRLF when the file does not end in one (smtplib completes the
    last line before "."; sample 25). Dot-stuffing (sample 15 has a line starting with ".") is
    undone by Postfix, so the milter sees the original line.
Finally `audit verify` must pass.
"""

import email
import email.policy
import hashlib
import re
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mugaika_e2e as e2e  # noqa: E402

# Samples that cannot reach the milter as sent. Postfix 3.7 with smtpd_milters cuts every header
# field to about 60000 bytes before queueing it and before the milter sees it (measured here; a
# larger header_size_limit does not change it, and without a milter the field arrives whole). So
# the 100 KB References and X-Campaign-Data fields of sample 39 arrive cut below the gateway's
# max_header_size (64 KiB): the gateway cannot refuse it, and what it keeps as "original" is
# Postfix's cut version. For these samples the test only requires: never delivered unsanitized,
# and the kept original is the sent mail with header fields cut (each a prefix of the sent one).
POSTFIX_CUTS_HEADERS = {"39-oversized-header.eml"}

POSTFIX_TRACE = (b"return-path:", b"x-original-to:", b"delivered-to:")


def header_lines(block: bytes) -> list[bytes]:
    """Split a header block (LF line ends) into unfolded-but-kept fields."""
    fields: list[bytes] = []
    for line in block.split(b"\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b"\n" + line
        elif line:
            fields.append(line)
    return fields


def strip_postfix_trace(fields: list[bytes]) -> list[bytes]:
    out = []
    for f in fields:
        low = f.lower()
        if low.startswith(POSTFIX_TRACE):
            continue
        if low.startswith(b"received:") and b"by mx.e2e.mugaika.test" in f:
            continue
        out.append(f)
    return out


def is_gateway_field(field: str) -> bool:
    name = field.split(":", 1)[0].strip().lower()
    return name in ("x-mugaika-sanitized", "mime-version") or name.startswith("content-")


def decoded_text(msg: email.message.Message) -> str:
    """The text body (rebuilt attachments, marked X-Mugaika-CDR, are compared by rebuilt())."""
    parts = []
    for p in msg.walk():
        if p.is_multipart() or p.get("X-Mugaika-CDR"):
            continue
        payload = p.get_payload(decode=True) or b""
        charset = p.get_content_charset() or "us-ascii"
        # virtual(8) stores LF line ends; an 8bit golden body has CRLF.
        parts.append(payload.decode(charset, "replace").replace("\r\n", "\n"))
    return "\n".join(parts)


def rebuilt(msg: email.message.Message) -> list[tuple[str, str, str, str]]:
    """(engine, file name, type, SHA-256) of every part a CDR engine rebuilt."""
    out = []
    for p in msg.walk():
        mark = p.get("X-Mugaika-CDR")
        if mark and not p.is_multipart():
            out.append((str(mark).split(";")[0], p.get_filename() or "", p.get_content_type(),
                        hashlib.sha256(p.get_payload(decode=True) or b"").hexdigest()))
    return out


class Samples(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.h = e2e.Harness()
        cls.h.start_milter()
        cls.sent = {}      # name -> (bytes sent, message-id, kind, expected path, result)
        for sample in e2e.sample_mails():
            data = sample.read_bytes()
            mid = e2e.message_id_of(data)
            outbound = "outbound" in sample.name
            port = cls.h.lgwan_port if outbound else cls.h.internet_port
            mail_from = "staff@city.example.lg.jp" if outbound else "sender@example.com"
            rcpt = "partner@example.com" if outbound else "staff@city.example.lg.jp"
            try:
                result = cls.h.send(data, port, mail_from, [rcpt])
            except e2e.SmtpError as err:
                result = err
            kind, expected = e2e.expected_for(sample)
            cls.sent[sample.name] = (data, mid, kind, expected, result, outbound)
        cls.h.wait_drained(120)
        cls.delivered = {}
        for d in cls.h.delivered():
            cls.delivered.setdefault(d.message_id, []).append(d)
        cls.rows = cls.h.audit_rows()

    @classmethod
    def tearDownClass(cls):
        cls.h.close()

    def test_all_samples_present(self):
        self.assertGreaterEqual(len(self.sent), 30)
        names = [n for n, v in self.sent.items() if v[2] == "none"]
        self.assertEqual(names, [], "samples without .expected.eml or .expected.refused")

    def test_smtp_answers(self):
        for name, (data, mid, kind, expected, result, _out) in self.sent.items():
            with self.subTest(sample=name):
                if name in POSTFIX_CUTS_HEADERS:
                    continue
                if kind == "refused":
                    want = expected.read_text().split()
                    self.assertIsInstance(result, e2e.SmtpError, f"{name} accepted: {result}")
                    if want[0] == "reject":
                        self.assertEqual(result.code, 550, str(result))
                        self.assertRegex(result.message, r"^5\.7\.1 ", str(result))
                    else:
                        self.assertEqual(result.code // 100, 4, str(result))
                    self.assertEqual(result.stage, "data", str(result))
                    self.assertRegex(result.message, r"audit MG-[0-9A-Za-z-]+", str(result))
                else:
                    self.assertNotIsInstance(result, e2e.SmtpError, f"{name}: {result}")
                    self.assertEqual(result[0], 250)

    def test_delivery(self):
        for name, (data, mid, kind, expected, result, outbound) in self.sent.items():
            with self.subTest(sample=name):
                got = self.delivered.get(mid, [])
                if name in POSTFIX_CUTS_HEADERS:
                    for d in got:
                        self.assertEqual(e2e.sanitized_problems(d), [], f"{name} unsanitized")
                    continue
                if kind == "refused":
                    self.assertEqual(got, [], f"{name} was refused but delivered")
                    continue
                self.assertEqual(len(got), 1, f"{name} ({mid}) delivered {len(got)} times")
                d = got[0]
                stamps = d.msg.get_all("X-Mugaika-Sanitized") or []
                self.assertEqual(len(stamps), 1, f"X-Mugaika-Sanitized: {stamps}")
                self.assertRegex(str(stamps[0]), r"audit=MG-[0-9A-Za-z-]+;")
                if outbound:
                    self.assertIn("mode=pass", str(stamps[0]))
                else:
                    self.assertIn("mode=text", str(stamps[0]))
                    # The text body, then only files a CDR engine rebuilt.
                    self.assertEqual(e2e.sanitized_problems(d), [])

    def test_matches_golden(self):
        for name, (data, mid, kind, expected, result, outbound) in self.sent.items():
            if kind != "eml":
                continue
            got = self.delivered.get(mid, [])
            if len(got) != 1:
                continue  # reported by test_delivery
            with self.subTest(sample=name):
                d = got[0]
                golden = expected.read_bytes()
                g_head = golden.split(b"\r\n\r\n", 1)[0].replace(b"\r\n", b"\n")
                got_fields = [e2e.normalize_audit(f.decode("utf-8", "surrogateescape"))
                              for f in strip_postfix_trace(header_lines(d.header_block()))]
                want_fields = [e2e.normalize_audit(f.decode("utf-8", "surrogateescape"))
                               for f in header_lines(g_head)]
                # Same fields (the milter may place its own header elsewhere than `mugaika
                # sanitize` does, e.g. X-Mugaika-Sanitized on top), and the original fields in the
                # original order.
                self.assertEqual(sorted(got_fields), sorted(want_fields),
                                 "header fields differ from golden")
                self.assertEqual([f for f in got_fields if not is_gateway_field(f)],
                                 [f for f in want_fields if not is_gateway_field(f)],
                                 "original header fields reordered")
                g_msg = email.message_from_bytes(golden, policy=email.policy.compat32)
                d_msg = email.message_from_bytes(d.raw, policy=email.policy.compat32)
                self.assertEqual(e2e.normalize_audit(decoded_text(d_msg)),
                                 e2e.normalize_audit(decoded_text(g_msg)),
                                 "decoded text differs from golden")
                # The rebuilt files are the same bytes through the milter as in the golden.
                self.assertEqual(rebuilt(d_msg), rebuilt(g_msg), "rebuilt attachments differ")

    def test_audit_records(self):
        by_mid = {}
        for r in self.rows:
            by_mid.setdefault(r.get("message_id", ""), []).append(r)
        for name, (data, mid, kind, expected, result, outbound) in self.sent.items():
            with self.subTest(sample=name):
                rows = by_mid.get(mid, [])
                self.assertEqual(len(rows), 1, f"{name} ({mid}): {len(rows)} audit records")
                r = rows[0]
                self.assertEqual(r["direction"], "outbound" if outbound else "inbound")
                self.assertTrue(r["queue_id"], "audit record without Postfix queue id")
                if name in POSTFIX_CUTS_HEADERS:
                    self.assertIn(r["verdict"], ("rejected", "sanitized"))
                    continue
                if kind == "refused":
                    want = expected.read_text().split()
                    self.assertEqual(r["verdict"], "rejected")
                    self.assertEqual(r["reason"], want[1])
                    self.assertIn(r["audit_id"], result.message)
                else:
                    self.assertEqual(r["verdict"], "passed" if outbound else "sanitized")
                    d = self.delivered.get(mid, [None])[0]
                    if d is not None:
                        self.assertIn(r["audit_id"], d.header("X-Mugaika-Sanitized"))

    def test_originals_byte_for_byte(self):
        by_mid = {r.get("message_id", ""): r for r in self.rows}
        for name, (data, mid, kind, expected, result, outbound) in self.sent.items():
            with self.subTest(sample=name):
                r = by_mid.get(mid)
                if r is None:
                    self.fail("no audit record")
                want = data if data.endswith(b"\r\n") else data + b"\r\n"
                got = self.h.export_original(r["audit_id"])
                if name in POSTFIX_CUTS_HEADERS:
                    self.assert_cut_headers(got, want)
                    continue
                if got != want:
                    i = next((k for k in range(min(len(got), len(want))) if got[k] != want[k]),
                             min(len(got), len(want)))
                    self.fail(f"export differs from what was sent: {len(got)} vs {len(want)} "
                              f"bytes, first difference at {i}: got {got[max(0, i-40):i+40]!r} "
                              f"want {want[max(0, i-40):i+40]!r}")

    def assert_cut_headers(self, got: bytes, want: bytes):
        g_head, g_body = got.split(b"\r\n\r\n", 1)
        w_head, w_body = want.split(b"\r\n\r\n", 1)
        self.assertEqual(g_body, w_body, "body differs")
        split = re.compile(rb"\r\n(?=[^ \t])")
        g_fields, w_fields = split.split(g_head), split.split(w_head)
        self.assertEqual(len(g_fields), len(w_fields))
        for g, w in zip(g_fields, w_fields):
            self.assertTrue(w.startswith(g), f"field {g[:40]!r} is not a prefix of the sent one")
        sys.stderr.write("39: header fields as kept: "
                         f"{[len(f) for f in g_fields]} (sent {[len(f) for f in w_fields]})\n")

    def test_zz_audit_verify(self):
        out = self.h.audit_verify()
        self.assertIn("audit chain ok", out)


if __name__ == "__main__":
    e2e.require_root()
    unittest.main(verbosity=2)
