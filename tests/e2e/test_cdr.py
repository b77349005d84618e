#!/usr/bin/env python3
"""e2e.cdr: attachments rebuilt by CDR through a real Postfix and mugaika-milter.

One inbound mail carries samples/files/ with active content: a PDF with OpenAction JavaScript and
an embedded file, a macro-enabled Word document with a VBA project and an external template, an
xlsx with an external link and DDE, an ODF text with a Basic macro, and a legacy .doc with a macro
storage. It must arrive as the text body with the notice, followed only by rebuilt files marked
X-Mugaika-CDR: the PDF without JavaScript or the embedded file (and valid for `qpdf --check`),
the document renamed .docx without its VBA project or template, the xlsx and odt without their
active parts; the .doc is removed (legacy Office is refused by default). The audit has one
cdr.<engine> event per rebuild whose output hash is the delivered file's. After a reload with
[cdr] office_convert = true, an RTF arrives converted to PDF by LibreOffice and rebuilt by the
PDF engine.
`mugaika sanitize-file` on the docm writes the same rebuilt document."""

import hashlib
import io
import re
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mugaika_e2e as e2e  # noqa: E402

FILES = e2e.SOURCE_DIR / "samples/files"
OFFICE_CONVERT = """\
[cdr]
office_convert = true
"""


def zip_names(data: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return z.namelist()


def every_xml_parses(data: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for name in z.namelist():
            if name.endswith((".xml", ".rels")):
                ET.fromstring(z.read(name))


class Cdr(unittest.TestCase):
    def test_documents_are_rebuilt_and_marked(self):
        pdf = (FILES / "pdf/openaction_js_embedded.pdf").read_bytes()
        docm = (FILES / "office/vba_template.docm").read_bytes()
        xlsx = (FILES / "office/external_link_dde.xlsx").read_bytes()
        odt = (FILES / "office/basic_macro.odt").read_bytes()
        doc = (FILES / "office/macro.doc").read_bytes()
        rtf = (FILES / "office/plain.rtf").read_bytes()
        with e2e.Harness() as h:
            h.start_milter(h.milter_config())
            mail = e2e.make_mail(
                "資料の送付", "資料を添付します。\n", "<cdr-1@e2e.mugaika.test>",
                [("請求書.pdf", "application/pdf", pdf),
                 ("申請様式.docm", "application/vnd.ms-word.document.macroEnabled.12", docm),
                 ("予算.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                  xlsx),
                 ("議事録.odt", "application/vnd.oasis.opendocument.text", odt),
                 ("古い様式.doc", "application/msword", doc)])
            self.assertEqual(h.send(mail)[0], 250)
            h.wait_drained()
            got = h.delivered()
            self.assertEqual(len(got), 1)
            d = got[0]
            self.assertEqual(e2e.sanitized_problems(d), [])
            parts = {p.get_filename(): p for p in d.rebuilt()}
            self.assertEqual(sorted(parts), sorted(["請求書.pdf", "申請様式.docx", "予算.xlsx",
                                                    "議事録.odt"]))
            marks = {n: str(p.get("X-Mugaika-CDR")).split(";")[0] for n, p in parts.items()}
            self.assertEqual(marks, {"請求書.pdf": "pdf", "申請様式.docx": "ooxml",
                                     "予算.xlsx": "ooxml", "議事録.odt": "odf"})

            out_pdf = parts["請求書.pdf"].get_payload(decode=True)
            for active in (b"/JavaScript", b"/JS", b"/EmbeddedFile", b"/OpenAction <<"):
                self.assertNotIn(active, out_pdf)
            with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
                f.write(out_pdf)
                f.flush()
                check = subprocess.run(["qpdf", "--check", f.name], capture_output=True)
                self.assertEqual(check.returncode, 0, check.stdout.decode() + check.stderr.decode())

            out_docx = parts["申請様式.docx"].get_payload(decode=True)
            self.assertEqual(parts["申請様式.docx"].get_content_type(),
                             "application/vnd.openxmlformats-officedocument.wordprocessingml"
                             ".document")
            names = zip_names(out_docx)
            self.assertFalse([n for n in names if "vbaProject" in n or "customUI" in n], names)
            every_xml_parses(out_docx)
            self.assertNotIn(b"attacker.example", out_docx)

            out_xlsx = parts["予算.xlsx"].get_payload(decode=True)
            self.assertFalse([n for n in zip_names(out_xlsx) if "externalLink" in n])
            every_xml_parses(out_xlsx)
            out_odt = parts["議事録.odt"].get_payload(decode=True)
            self.assertFalse([n for n in zip_names(out_odt) if n.startswith(("Basic/", "Scripts/"))])
            self.assertEqual(zip_names(out_odt)[0], "mimetype")

            text = d.text()
            self.assertIn("古い様式.doc", text)
            self.assertIn("cdr.office.legacy", text)
            self.assertIn("JavaScript", text)
            self.assertIn("マクロ / macros", text)
            self.assertIn("https://example.com/login", text)  # the docm's link, as text

            rows = {r["message_id"]: r for r in h.audit_rows()}
            row = rows["<cdr-1@e2e.mugaika.test>"]
            self.assertEqual(row["verdict"], "sanitized")
            by_filter = {}
            for ev in row["events"]:
                if ev["filter"].startswith("cdr."):
                    by_filter.setdefault(ev["filter"], []).append(ev)
            self.assertEqual(sorted(by_filter), ["cdr.odf", "cdr.ooxml", "cdr.pdf"])
            delivered_hashes = {hashlib.sha256(p.get_payload(decode=True)).hexdigest()
                                for p in parts.values()}
            for evs in by_filter.values():
                for ev in evs:
                    self.assertIn(ev["sha256_after"], delivered_hashes)
                    self.assertRegex(ev["detail"], r"removed=\d+")
            pdf_ev = by_filter["cdr.pdf"][0]
            self.assertIn("pdf.javascript", pdf_ev["detail"])
            self.assertIn("pdf.embedded_file", pdf_ev["detail"])

            # Legacy Office with LibreOffice conversion on: an RTF arrives as a PDF.
            h.postfix.clear_maildir()
            before = h.milter.log_text().count("config: reloaded")
            h.milter.write_config(h.milter_config(extra=OFFICE_CONVERT))
            h.reload()
            e2e.wait_for(lambda: h.milter.log_text().count("config: reloaded") > before, 20,
                         what="the reload with office_convert")
            mail2 = e2e.make_mail("RTF", "RTF を添付します。\n", "<cdr-2@e2e.mugaika.test>",
                                  [("案内.rtf", "application/rtf", rtf)])
            self.assertEqual(h.send(mail2)[0], 250)
            h.wait_drained()
            got = h.delivered()
            self.assertEqual(len(got), 1)
            self.assertEqual(e2e.sanitized_problems(got[0]), [])
            rebuilt = got[0].rebuilt()
            self.assertEqual([p.get_filename() for p in rebuilt], ["案内.pdf"])
            self.assertTrue(rebuilt[0].get_payload(decode=True).startswith(b"%PDF-"))
            self.assertEqual(str(rebuilt[0].get("X-Mugaika-CDR")).split(";")[0], "office")

            # The file gateway on the same docm gives the same document.
            out = h.base / "out.docx"
            p = h.cli("sanitize-file", str(FILES / "office/vba_template.docm"), "-o", str(out),
                      config=True, check=False)
            self.assertEqual(p.returncode, 0, p.stderr.decode())
            self.assertIn("rebuilt as vba_template.docx", p.stderr.decode())
            names = zip_names(out.read_bytes())
            self.assertFalse([n for n in names if "vbaProject" in n])
            self.assertIn("audit chain ok", h.audit_verify())


if __name__ == "__main__":
    e2e.require_root()
    unittest.main(verbosity=2)
