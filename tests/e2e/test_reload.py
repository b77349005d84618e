#!/usr/bin/env python3
"""e2e.reload: SIGHUP to the supervisor.

1. The config file is overwritten with garbage and SIGHUP sent: the milter keeps serving with the
   rules it had (a mail with tool.exe attached is still delivered, sanitized, the attachment
   stripped), the supervisor is still running, and its log says the reload was refused.
2. A valid config adding `extension = ["exe"] -> reject` is written and SIGHUP sent: the next
   mail with tool.exe is refused with 550 and not delivered; a plain mail is still sanitized.
"""

import re
import signal
import sys
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mugaika_e2e as e2e  # noqa: E402

REFUSED_RE = re.compile(r"reload.*(refus|reject|fail|invalid|error|keep)|"
                        r"(refus|reject|fail|invalid|error).*reload", re.I)


def exe_mail(n: int) -> bytes:
    return e2e.make_mail(f"実行ファイル {n}", "添付を実行してください。\n",
                         f"<reload-exe-{n}@e2e.mugaika.test>",
                         [("tool.exe", "application/octet-stream", e2e.exe_bytes())])


def plain_mail(n: int) -> bytes:
    return e2e.make_mail(f"通常 {n}", "本文です。\n", f"<reload-plain-{n}@e2e.mugaika.test>")


def send_retrying(h, mail, timeout=15.0):
    """Send; on 4xx (a worker being replaced) try again. Returns (code, msg) or the SmtpError
    of a 5xx."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return h.send(mail)
        except e2e.SmtpError as err:
            if err.code // 100 == 5 or time.monotonic() > deadline:
                return err
            time.sleep(0.5)


class Reload(unittest.TestCase):
    def test_broken_then_good_config(self):
        with e2e.Harness() as h:
            good = h.milter_config()
            h.start_milter(good)
            sup = h.milter.pid

            # 1. Broken config.
            log_before = len(h.milter.log_text())
            h.milter.write_config("this is [not toml\n[[rules]\nid = \n")
            h.reload()
            try:
                e2e.wait_for(lambda: REFUSED_RE.search(h.milter.log_text()[log_before:]), 15,
                             what="a log line saying the reload was refused")
            except TimeoutError:
                self.fail("no log line about the refused reload; log since HUP:\n"
                          + h.milter.log_text()[log_before:])
            self.assertTrue(h.milter.running(), "supervisor exited after a broken reload")
            self.assertEqual(h.milter.pid, sup)
            r = send_retrying(h, exe_mail(1))
            self.assertNotIsInstance(r, e2e.SmtpError, f"with the old rules: {r}")
            self.assertEqual(send_retrying(h, plain_mail(1))[0], 250)
            h.wait_drained()
            got = {d.message_id: d for d in h.delivered()}
            self.assertEqual(sorted(got), ["<reload-exe-1@e2e.mugaika.test>",
                                           "<reload-plain-1@e2e.mugaika.test>"])
            for d in got.values():
                self.assertEqual(e2e.sanitized_problems(d), [], d.message_id)
            self.assertIn("tool.exe", got["<reload-exe-1@e2e.mugaika.test>"].text())

            # 2. Good config with a reject rule.
            log_before = len(h.milter.log_text())
            h.milter.write_config(h.milter_config(extra_rules=e2e.REJECT_EXE_RULE))
            h.reload()
            try:
                e2e.wait_for(lambda: re.search(r"reloaded", h.milter.log_text()[log_before:]), 15,
                             what="a log line saying the config was reloaded")
            except TimeoutError:
                self.fail("no log line about the reload; log since HUP:\n"
                          + h.milter.log_text()[log_before:])
            r = send_retrying(h, exe_mail(2))
            self.assertIsInstance(r, e2e.SmtpError, "exe mail accepted after the reload; log:\n"
                                  + h.milter.log_text()[log_before:])
            self.assertEqual(r.code, 550, str(r))
            self.assertRegex(r.message, r"audit MG-[0-9A-Za-z-]+")
            self.assertEqual(send_retrying(h, plain_mail(2))[0], 250)
            h.wait_drained()
            got = {d.message_id: d for d in h.delivered()}
            self.assertNotIn("<reload-exe-2@e2e.mugaika.test>", got)
            self.assertIn("<reload-plain-2@e2e.mugaika.test>", got)
            self.assertEqual(e2e.sanitized_problems(got["<reload-plain-2@e2e.mugaika.test>"]), [])
            self.assertEqual(h.milter.pid, sup)

            # 3. Both loads are audited (the broken file was never loaded): the file's SHA-256
            # and the rule set version, which the refused mail names.
            loads = [r for r in h.audit_rows(include_config=True)
                     if r["verdict"] == "config_loaded"]
            by_trigger = {}
            for r in loads:
                self.assertEqual(len(r["events"]), 1, r)
                trigger = r["events"][0]["detail"].split()[0]
                by_trigger.setdefault(trigger, []).append(r)
            self.assertEqual(sorted(by_trigger), ["trigger=milter.reload", "trigger=milter.start"],
                             [r["events"][0]["detail"] for r in loads])
            self.assertEqual(len(by_trigger["trigger=milter.reload"]), 1)
            start, reload = by_trigger["trigger=milter.start"][-1], by_trigger["trigger=milter.reload"][0]
            self.assertIn("by=SIGHUP", reload["events"][0]["detail"])
            self.assertNotEqual(start["sha256_in"], reload["sha256_in"])
            self.assertNotEqual(start["ruleset_version"], reload["ruleset_version"])
            self.assertEqual(len(reload["sha256_in"]), 64)
            refused = [r for r in h.audit_rows()
                       if r["message_id"] == "<reload-exe-2@e2e.mugaika.test>"]
            self.assertEqual(len(refused), 1)
            self.assertEqual(refused[0]["ruleset_version"], reload["ruleset_version"])
            first = [r for r in h.audit_rows()
                     if r["message_id"] == "<reload-exe-1@e2e.mugaika.test>"]
            self.assertEqual(first[0]["ruleset_version"], start["ruleset_version"])
            self.assertIn("audit chain ok", h.audit_verify())
            self.assertEqual(h.stop_milter(), 0)


if __name__ == "__main__":
    e2e.require_root()
    unittest.main(verbosity=2)
