#!/usr/bin/env python3
"""e2e.cli_output: where `mugaika sanitize -o` and `audit report -o` write.

A regular file is replaced through a temporary file and rename (a reader never sees half a
mail). Anything else -- a FIFO, a character device such as /dev/null -- is written in place: an
earlier build renamed its temporary file over the target, which as root replaced /dev/null with
a regular file. No Postfix is needed.
"""

import os
import stat
import subprocess
import sys
import tempfile
import threading
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mugaika_e2e as e2e  # noqa: E402

SAMPLE = "02-utf8-8bit-plain.eml"


class CliOutput(unittest.TestCase):
    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="mugaika-cli-output-"))
        src = Path(os.environ["MUGAIKA_SOURCE_DIR"]) / "config" / "mugaika.toml"
        text = src.read_text(encoding="utf-8")
        # The antivirus needs a database this test does not write.
        text = text.replace("\nenabled = true\n", "\nenabled = false\n")
        self.config = self.tmp / "mugaika.toml"
        self.config.write_text(text, encoding="utf-8")
        self.mail = Path(os.environ["MUGAIKA_SOURCE_DIR"]) / "samples" / "mail" / SAMPLE

    def tearDown(self):
        subprocess.run(["rm", "-rf", str(self.tmp)], check=False)

    def mugaika(self, *args):
        return subprocess.run([str(e2e.cli_binary()), "--config", str(self.config),
                               "--state-dir", str(self.tmp / "state"), *args],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)

    def test_regular_file_is_replaced(self):
        out = self.tmp / "out.eml"
        out.write_bytes(b"old content\n")
        p = self.mugaika("sanitize", str(self.mail), "-o", str(out))
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        data = out.read_bytes()
        self.assertIn(b"X-Mugaika-Sanitized:", data)
        self.assertNotIn(b"old content", data)
        self.assertFalse((self.tmp / "out.eml.tmp").exists())

    def test_fifo_stays_a_fifo_and_gets_the_mail(self):
        fifo = self.tmp / "pipe"
        os.mkfifo(fifo)
        got = []
        reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
        reader.start()
        p = self.mugaika("sanitize", str(self.mail), "-o", str(fifo))
        reader.join(30)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        self.assertTrue(stat.S_ISFIFO(os.stat(fifo).st_mode), "the FIFO was replaced")
        self.assertEqual(len(got), 1)
        self.assertIn(b"X-Mugaika-Sanitized:", got[0])

    def test_dev_null_stays_a_device(self):
        before = os.stat("/dev/null")
        self.assertTrue(stat.S_ISCHR(before.st_mode), "/dev/null is not a device before the test")
        p = self.mugaika("sanitize", str(self.mail), "-o", "/dev/null")
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        p = self.mugaika("audit", "report", "--month", "2026-11", "-o", "/dev/null")
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        after = os.stat("/dev/null")
        self.assertTrue(stat.S_ISCHR(after.st_mode), "/dev/null was replaced by a file")
        self.assertEqual(after.st_rdev, before.st_rdev)
        self.assertFalse(Path("/dev/null.tmp").exists())


if __name__ == "__main__":
    unittest.main(verbosity=2)
