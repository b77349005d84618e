#!/usr/bin/env python3
"""Writes samples/mail/46-cdr-active-content.eml, byte for byte the same on every run: a mail whose
attachments carry active content that CDR must remove (files from samples/files/): a PDF with
OpenAction JavaScript and an embedded file, and a macro-enabled Word document with a VBA project,
an external template, a ribbon callback and a link. It reuses the mail layout of
make_archive_samples.py.

    python3 samples/mail/make_cdr_samples.py [OUT_DIR]    (default: samples/mail)
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FILES = HERE.parent / "files"


def _archive_samples():
    spec = importlib.util.spec_from_file_location("make_archive_samples",
                                                  HERE / "make_archive_samples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def samples() -> dict[str, bytes]:
    mail = _archive_samples().mail
    return {
        "46-cdr-active-content.eml": mail(
            46, "請求書と申請様式の送付",
            "総務課 御中\n\n請求書と申請様式をお送りします。\n"
            "様式はマクロを有効にしてからご利用ください。\n",
            [("請求書.pdf", "application/pdf",
              (FILES / "pdf/openaction_js_embedded.pdf").read_bytes()),
             ("申請様式.docm", "application/vnd.ms-word.document.macroEnabled.12",
              (FILES / "office/vba_template.docm").read_bytes())]),
    }


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    for name, data in samples().items():
        (out / name).write_bytes(data)
        print(f"{out / name}: {len(data)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
