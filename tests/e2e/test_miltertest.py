#!/usr/bin/env python3
"""e2e.miltertest: milter-protocol tests with miltertest (Lua) against mugaika-milter on a unix
socket, without Postfix. Each script in tests/e2e/miltertest/ drives one connection:
  several.lua  three messages on one connection, each replaced correctly
  abort.lua    abort in the middle of a body (and right after the headers), then a new message
  chunks.lua   a body sent in 1-byte (and 7-byte) chunks
  reject.lua   the reject rule: SMFIR_REPLYCODE, no body change; then a normal message on the
               same connection (the 550 5.7.1 text is checked through Postfix)
  outbound.lua {daemon_name}=lgwan: body untouched, X-Mugaika-Sanitized mode=pass
The milter runs with the notice disabled so that the replacement body does not hold the audit id:
the expected body is exactly what `mugaika sanitize` makes of the same mail with the same config
(compared with mt.eom_check(MT_BODYCHANGE, body)). Bodies stay under 1 KB (miltertest crashes on
bigger replacement bodies)."""

import subprocess
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mugaika_e2e as e2e  # noqa: E402

HERE = Path(__file__).resolve().parent
LUA = HERE / "miltertest"


STRIP_ATTACHMENTS = """
[[rules]]
id = "strip-attachments"
direction = "inbound"
role = "attachment"
action = "strip"
"""


def cases() -> dict[str, bytes]:
    return {
        "m1": e2e.make_mail("Notice 1", "Elevator maintenance on Monday.\nPlease use the stairs.\n",
                            "<mt-1@e2e.mugaika.test>"),
        "m2": e2e.make_mail("お知らせ", "見本市 市民課です。\n①窓口の受付時間が変わります。\n髙橋\n",
                            "<mt-2@e2e.mugaika.test>"),
        "m3": e2e.make_mail("資料", "資料を添付します。\n",
                            "<mt-3@e2e.mugaika.test>",
                            [("data.csv", "text/csv", "名前,番号\n佐藤,1\n".encode())]),
        "exe": e2e.make_mail("ツール", "実行してください。\n", "<mt-exe@e2e.mugaika.test>",
                             [("tool.exe", "application/octet-stream", e2e.exe_bytes()[:64])]),
    }


class MilterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.h = e2e.Harness(start_postfix=False)
        # Attachments are stripped, not rebuilt: a rebuilt part carries its audit id
        # (X-Mugaika-CDR), so the milter's body could not equal `mugaika sanitize`'s byte for
        # byte. CDR through the milter is covered by e2e.cdr.
        cls.config = cls.h.milter_config(extra_rules=e2e.REJECT_EXE_RULE + STRIP_ATTACHMENTS,
                                         extra="[notice]\nenabled = false\n")
        cls.h.start_milter(cls.config)
        cls.dir = cls.h.base / "cases"
        cls.dir.mkdir()
        cli_state = cls.h.base / "cli-state"
        for name, mail in cases().items():
            (cls.dir / f"{name}.in").write_bytes(mail)
            if name == "exe":
                continue
            p = subprocess.run([str(e2e.cli_binary()), "--config", str(cls.h.milter.config_path),
                                "--state-dir", str(cli_state), "sanitize", str(cls.dir / f"{name}.in"),
                                "-o", str(cls.dir / f"{name}.out")],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            assert p.returncode == 0, f"mugaika sanitize {name}: {p.stdout.decode()}"
            body = (cls.dir / f"{name}.out").read_bytes().split(b"\r\n\r\n", 1)[1]
            assert len(body) < 1000, f"{name}: expected body {len(body)} bytes, too big for miltertest"

    @classmethod
    def tearDownClass(cls):
        cls.h.close()

    def run_script(self, script: str):
        cmd = ["miltertest", "-s", str(LUA / script), "-D", f"SOCKET={self.h.milter_socket}",
               "-D", f"CASES={self.dir}", "-D", f"SRC={LUA}"]
        try:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=180)
        except subprocess.TimeoutExpired:
            self.fail(f"{script}: miltertest timed out")
        out = p.stdout.decode(errors="replace")
        sys.stderr.write(f"--- {script} (exit {p.returncode}):\n{out}")
        alive = self.h.milter.running()
        if p.returncode != 0 or "PASS" not in out:
            self.fail(f"{script}: exit {p.returncode}\n{out}\nmilter log tail:\n"
                      f"{e2e.tail(self.h.milter.log_path)}")
        self.assertTrue(alive, "mugaika-milter exited")

    def test_several_messages_per_connection(self):
        self.run_script("several.lua")

    def test_abort_then_new_message(self):
        self.run_script("abort.lua")

    def test_one_byte_chunks(self):
        self.run_script("chunks.lua")

    def test_reject_rule(self):
        self.run_script("reject.lua")

    def test_outbound_pass(self):
        self.run_script("outbound.lua")


if __name__ == "__main__":
    e2e.require_root()
    unittest.main(verbosity=2)
