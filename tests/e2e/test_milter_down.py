#!/usr/bin/env python3
"""e2e.milter_down: with the milter not running, Postfix (milter_default_action = tempfail)
answers 451 4.7.1 and delivers nothing. A client that resends on 4xx, as every SMTP client does,
gets its mail through once the milter runs, sanitized, exactly once: nothing lost, nothing
unsanitized. SIGTERM stops the milter with exit 0; after it, mail is tempfailed again."""

import sys
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mugaika_e2e as e2e  # noqa: E402

N = 5


def mails():
    return [e2e.make_mail(f"停止中のテスト {i}", f"本文 {i}: 市民課からのお知らせです。\n",
                          f"<down-{i}@e2e.mugaika.test>") for i in range(N)]


class MilterDown(unittest.TestCase):
    def test_tempfail_then_resend(self):
        with e2e.Harness() as h:
            pending = mails()
            # 1. Nothing listens: every attempt is tempfailed.
            for m in pending:
                with self.assertRaises(e2e.SmtpError) as cm:
                    h.send(m)
                err = cm.exception
                self.assertEqual(err.code, 451, str(err))
                self.assertTrue(err.message.startswith("4.7.1"), str(err))
                self.assertIn(err.stage, ("mail", "rcpt", "data"), str(err))
            time.sleep(1)
            self.assertEqual(h.postfix.queue_files()["incoming"], 0)
            self.assertEqual(h.delivered(), [])

            # 2. The milter starts; the client resends what was tempfailed.
            h.start_milter()
            self.resend_all(h, pending)
            h.wait_drained()
            self.check_delivered(h, N)

            # 3. SIGTERM: exit 0, and mail is tempfailed again.
            rc = h.stop_milter()
            self.assertEqual(rc, 0, f"mugaika-milter exit code after SIGTERM: {rc}")
            extra = e2e.make_mail("停止後", "本文\n", "<down-after-stop@e2e.mugaika.test>")
            with self.assertRaises(e2e.SmtpError) as cm:
                h.send(extra)
            self.assertEqual(cm.exception.code, 451, str(cm.exception))

            # 4. Restart (same state dir): the resend arrives, the earlier mail is untouched.
            h.start_milter()
            self.resend_all(h, [extra])
            h.wait_drained()
            self.check_delivered(h, N + 1)
            self.assertIn("audit chain ok", h.audit_verify())

    def resend_all(self, h, pending, timeout=30.0):
        deadline = time.monotonic() + timeout
        todo = list(pending)
        while todo:
            m = todo.pop(0)
            try:
                self.assertEqual(h.send(m)[0], 250)
            except e2e.SmtpError as err:
                self.assertEqual(err.code // 100, 4, f"permanent failure on resend: {err}")
                if time.monotonic() > deadline:
                    self.fail(f"still tempfailed after {timeout}s: {err}")
                todo.append(m)
                time.sleep(0.5)

    def check_delivered(self, h, n):
        got = h.delivered()
        mids = sorted(d.message_id for d in got)
        self.assertEqual(len(mids), n, f"delivered: {mids}")
        self.assertEqual(len(set(mids)), n, f"duplicates: {mids}")
        for d in got:
            self.assertEqual(e2e.sanitized_problems(d), [], d.message_id)
        rows = [r for r in h.audit_rows() if r["verdict"] == "sanitized"]
        self.assertEqual(sorted(r["message_id"] for r in rows), mids)


if __name__ == "__main__":
    e2e.require_root()
    unittest.main(verbosity=2)
