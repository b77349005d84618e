#!/usr/bin/env python3
"""e2e.worker_kill: the milter's worker process killed with SIGKILL while a message is in flight.

Case 1 (the issue's scenario): a raw SMTP session sends the headers and half of a ~3 MB body,
the worker is killed, the rest of the DATA is sent. Postfix must answer 4xx (its milter connection
is gone; milter_default_action = tempfail), deliver nothing, the supervisor must start a new
worker, and a resend must arrive sanitized, exactly once.

Case 2: the whole message is sent and the worker is killed 0, 50, 200 ms after the final ".",
while it may be reading or converting the body. Whatever the timing, the answer is either 250
(and the mail arrives sanitized) or 4xx (and nothing arrives until the resend): never unsanitized,
never lost, never twice.
"""

import signal
import sys
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mugaika_e2e as e2e  # noqa: E402

LINE = "見本市 契約管財課 御中、添付の資料をご確認ください。大きなメールの試験です。".encode() + b"\r\n"


def big_mail(mid: str, size: int = 3 * 1024 * 1024) -> bytes:
    head = (f"From: sender@example.com\r\nTo: staff@city.example.lg.jp\r\n"
            f"Subject: big mail {mid}\r\nDate: Mon, 21 Apr 2025 10:00:00 +0900\r\n"
            f"Message-ID: {mid}\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            ).encode()
    return head + LINE * (size // len(LINE))


def open_data(h) -> e2e.RawSmtp:
    s = e2e.RawSmtp(h.internet_port)
    s.command("ehlo", "EHLO client.example.jp", 250)
    s.command("mail", "MAIL FROM:<sender@example.com>", 250)
    s.command("rcpt", "RCPT TO:<staff@city.example.lg.jp>", 250)
    s.command("data", "DATA", 354)
    return s


class WorkerKill(unittest.TestCase):
    def test_kill_mid_data(self):
        with e2e.Harness() as h:
            h.start_milter()
            supervisor = h.milter.pid
            mid = "<kill-mid-data@e2e.mugaika.test>"
            mail = e2e.RawSmtp.stuff(big_mail(mid))
            half = len(mail) // 2
            half = mail.rfind(b"\r\n", 0, half) + 2
            s = open_data(h)
            try:
                s.send_raw(mail[:half])
                time.sleep(1.0)
                old = h.kill_worker(signal.SIGKILL)
                time.sleep(0.2)
                s.send_raw(mail[half:] + b".\r\n")
                code, msg = s.read_reply()
            finally:
                s.close()
            self.assertEqual(code // 100, 4, f"after the worker was killed mid-DATA: {code} {msg}")
            new = h.milter.wait_worker_restarted(old)
            self.assertNotEqual(new, old)
            self.assertEqual(h.milter.pid, supervisor)
            self.assertTrue(h.milter.running(), "supervisor exited")
            time.sleep(1)
            h.wait_drained()
            self.assertEqual(h.delivered(), [], "the tempfailed message was delivered")

            self.assertEqual(h.send(big_mail(mid))[0], 250)
            h.wait_drained()
            got = h.delivered()
            self.assertEqual([d.message_id for d in got], [mid])
            self.assertEqual(e2e.sanitized_problems(got[0]), [])
            self.assertIn("大きなメールの試験です", got[0].text())

    def test_kill_after_end_of_data(self):
        with e2e.Harness() as h:
            h.start_milter()
            outcomes = {}
            for delay in (0.0, 0.05, 0.2):
                mid = f"<kill-after-dot-{int(delay * 1000)}@e2e.mugaika.test>"
                mail = big_mail(mid, 2 * 1024 * 1024)
                s = open_data(h)
                try:
                    s.send_raw(e2e.RawSmtp.stuff(mail) + b".\r\n")
                    time.sleep(delay)
                    old = h.kill_worker(signal.SIGKILL)
                    code, msg = s.read_reply()
                finally:
                    s.close()
                self.assertIn(code // 100, (2, 4), f"delay {delay}: {code} {msg}")
                outcomes[mid] = (code, msg, mail)
                h.milter.wait_worker_restarted(old)
            h.wait_drained()
            got = {d.message_id: d for d in h.delivered()}
            for mid, (code, msg, _mail) in outcomes.items():
                if code // 100 == 4:
                    self.assertNotIn(mid, got, f"{mid} got {code} {msg} but was delivered")
            for mid, (code, msg, mail) in outcomes.items():
                if code // 100 == 4:
                    self.assertEqual(h.send(mail)[0], 250)
            h.wait_drained()
            delivered = h.delivered()
            mids = sorted(d.message_id for d in delivered)
            self.assertEqual(mids, sorted(outcomes), f"outcomes: "
                             f"{ {k: v[:2] for k, v in outcomes.items()} }")
            for d in delivered:
                self.assertEqual(e2e.sanitized_problems(d), [], d.message_id)
            sys.stderr.write("answers when killed after the final dot: "
                             f"{ {k: v[:2] for k, v in outcomes.items()} }\n")


if __name__ == "__main__":
    e2e.require_root()
    unittest.main(verbosity=2)
