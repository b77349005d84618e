#!/usr/bin/env python3
"""Writes the PDF samples of the CDR engine (see README.md here), byte for byte the same on every
run. Raw PDF syntax from Python's standard library; the two encrypted samples and the one with
object streams are derived from the clean ones with the qpdf command (Debian package qpdf) and its
options for reproducible output (--deterministic-id, --static-id, --static-aes-nonce).

    python3 samples/files/pdf/make_pdf_samples.py [OUT_DIR]    (default: this directory)

tests/unit/filters/cdr/pdf/pdf_engine_test.cpp runs this script into a temporary directory and
compares every file with the committed one.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zlib
from pathlib import Path


class Pdf:
    """Objects numbered from 1, written with a classic xref table."""

    def __init__(self) -> None:
        self.objects: list[bytes] = []

    def add(self, body: str | bytes) -> int:
        self.objects.append(body.encode("latin-1") if isinstance(body, str) else body)
        return len(self.objects)

    def reserve(self) -> int:
        return self.add(b"null")

    def set(self, num: int, body: str | bytes) -> None:
        self.objects[num - 1] = body.encode("latin-1") if isinstance(body, str) else body

    def stream(self, data: bytes, extra: str = "", compress: bool = True) -> int:
        if compress:
            data = zlib.compress(data, 9)
            extra += " /Filter /FlateDecode"
        head = f"<< /Length {len(data)}{extra} >>\nstream\n".encode("latin-1")
        return self.add(head + data + b"\nendstream")

    def write(self, root: int, info: int | None = None) -> bytes:
        out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
        offsets = []
        for i, body in enumerate(self.objects, start=1):
            offsets.append(len(out))
            out += f"{i} 0 obj\n".encode("latin-1") + body + b"\nendobj\n"
        xref = len(out)
        out += f"xref\n0 {len(self.objects) + 1}\n0000000000 65535 f \n".encode("latin-1")
        for off in offsets:
            out += f"{off:010d} 00000 n \n".encode("latin-1")
        trailer = f"<< /Size {len(self.objects) + 1} /Root {root} 0 R"
        if info is not None:
            trailer += f" /Info {info} 0 R"
        out += f"trailer\n{trailer} >>\nstartxref\n{xref}\n%%EOF\n".encode("latin-1")
        return bytes(out)


def text_pages(pdf: Pdf, pages_num: int, texts: list[str]) -> list[int]:
    """Pages with one line of Helvetica text each; returns the page object numbers."""
    font = pdf.add("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    kids = []
    for text in texts:
        content = pdf.stream(f"BT /F1 24 Tf 72 720 Td ({text}) Tj ET\n".encode("latin-1"))
        kids.append(
            pdf.add(
                f"<< /Type /Page /Parent {pages_num} 0 R /MediaBox [0 0 612 792] "
                f"/Resources << /Font << /F1 {font} 0 R >> >> /Contents {content} 0 R >>"
            )
        )
    return kids


def set_pages(pdf: Pdf, pages_num: int, kids: list[int]) -> None:
    refs = " ".join(f"{k} 0 R" for k in kids)
    pdf.set(pages_num, f"<< /Type /Pages /Kids [{refs}] /Count {len(kids)} >>")


def with_annots(pdf: Pdf, page: int, annots: list[int]) -> None:
    body = pdf.objects[page - 1].decode("latin-1")
    refs = " ".join(f"{a} 0 R" for a in annots)
    pdf.set(page, body[:-2] + f" /Annots [{refs}] >>")


def openaction_js_embedded() -> bytes:
    """The issue's example: JavaScript run at open, and an embedded file."""
    pdf = Pdf()
    pages = pdf.reserve()
    kids = text_pages(pdf, pages, ["Invoice 2025-04"])
    set_pages(pdf, pages, kids)
    js = pdf.add("<< /Type /Action /S /JavaScript /JS (app.alert\\('opened'\\);) >>")
    payload = b"@echo off\r\necho this would run\r\n"
    ef = pdf.stream(payload, f" /Type /EmbeddedFile /Params << /Size {len(payload)} >>")
    spec = pdf.add(f"<< /Type /Filespec /F (setup.bat) /UF (setup.bat) /EF << /F {ef} 0 R >> >>")
    attach = pdf.add(
        f"<< /Type /Annot /Subtype /FileAttachment /Rect [72 600 92 620] /FS {spec} 0 R "
        "/Name /PushPin >>"
    )
    with_annots(pdf, kids[0], [attach])
    names = pdf.add(f"<< /EmbeddedFiles << /Names [(setup.bat) {spec} 0 R] >> >>")
    root = pdf.add(f"<< /Type /Catalog /Pages {pages} 0 R /OpenAction {js} 0 R /Names {names} 0 R >>")
    return pdf.write(root)


def launch_form_uri() -> bytes:
    """Launch, SubmitForm, ResetForm, JavaScript field and page actions, URI links, a Named
    Print, and what must stay: a GoTo link and a NextPage link."""
    pdf = Pdf()
    pages = pdf.reserve()
    kids = text_pages(pdf, pages, ["Application form", "Terms"])
    launch = pdf.add(
        "<< /Type /Annot /Subtype /Link /Rect [72 500 200 520] /Border [0 0 0] "
        "/A << /S /Launch /F (C:\\\\Windows\\\\System32\\\\cmd.exe) "
        "/Win << /F (cmd.exe) /P (/c calc) >> >> >>"
    )
    uri1 = pdf.add(
        "<< /Type /Annot /Subtype /Link /Rect [72 460 200 480] "
        "/A << /S /URI /URI (https://example.com/login?id=1) >> >>"
    )
    uri_action = pdf.add("<< /S /URI /URI (http://example.org/terms) >>")
    uri2 = pdf.add(
        f"<< /Type /Annot /Subtype /Link /Rect [72 420 200 440] /A {uri_action} 0 R >>"
    )
    goto = pdf.add(
        f"<< /Type /Annot /Subtype /Link /Rect [72 380 200 400] "
        f"/A << /S /GoTo /D [{kids[1]} 0 R /Fit] >> >>"
    )
    print_named = pdf.add(
        "<< /Type /Annot /Subtype /Link /Rect [72 340 200 360] /A << /S /Named /N /Print >> >>"
    )
    next_page = pdf.add(
        "<< /Type /Annot /Subtype /Link /Rect [72 300 200 320] "
        "/A << /S /Named /N /NextPage /Next << /S /JavaScript /JS (this.print\\(\\)) >> >> >>"
    )
    field = pdf.add(
        f"<< /Type /Annot /Subtype /Widget /FT /Tx /T (name) /Rect [72 250 300 270] "
        f"/P {kids[0]} 0 R /AA << /K << /S /JavaScript /JS (event.rc = true;) >> "
        "/F << /S /JavaScript /JS (AFNumber_Format\\(0\\)) >> >> >>"
    )
    submit = pdf.add(
        f"<< /Type /Annot /Subtype /Widget /FT /Btn /Ff 65536 /T (send) /Rect [72 200 150 220] "
        f"/P {kids[0]} 0 R /A << /S /SubmitForm /F << /FS /URL /F (https://example.com/submit) >> "
        "/Flags 4 >> >>"
    )
    reset = pdf.add(
        f"<< /Type /Annot /Subtype /Widget /FT /Btn /Ff 65536 /T (clear) /Rect [160 200 240 220] "
        f"/P {kids[0]} 0 R /A << /S /ResetForm >> >>"
    )
    remote = pdf.add(
        "<< /Type /Annot /Subtype /Link /Rect [72 160 200 180] "
        "/A << /S /GoToR /F (\\\\\\\\server\\\\share\\\\other.pdf) /D [0 /Fit] >> >>"
    )
    with_annots(pdf, kids[0], [launch, uri1, uri2, goto, print_named, next_page, field, submit,
                               reset, remote])
    body = pdf.objects[kids[1] - 1].decode("latin-1")
    pdf.set(kids[1], body[:-2] + " /AA << /O << /S /JavaScript /JS (app.beep\\(0\\)) >> >> >>")
    set_pages(pdf, pages, kids)
    outline_item = pdf.reserve()
    outlines = pdf.add(f"<< /Type /Outlines /First {outline_item} 0 R /Last {outline_item} 0 R "
                       "/Count 1 >>")
    pdf.set(outline_item, f"<< /Title (Help) /Parent {outlines} 0 R "
                          "/A << /S /URI /URI (https://example.net/help) >> >>")
    form = pdf.add(f"<< /Fields [{field} 0 R {submit} 0 R {reset} 0 R] >>")
    root = pdf.add(
        f"<< /Type /Catalog /Pages {pages} 0 R /AcroForm {form} 0 R /Outlines {outlines} 0 R "
        "/AA << /WC << /S /JavaScript /JS (app.alert\\('bye'\\)) >> >> >>"
    )
    return pdf.write(root)


def xfa() -> bytes:
    """An XFA form (with a script in its template) beside an AcroForm field."""
    pdf = Pdf()
    pages = pdf.reserve()
    kids = text_pages(pdf, pages, ["Please enable forms"])
    set_pages(pdf, pages, kids)
    template = (
        b'<template xmlns="http://www.xfa.org/schema/xfa-template/3.3/"><subform name="f">'
        b'<event activity="initialize"><script contentType="application/x-javascript">'
        b"xfa.host.messageBox('xfa');</script></event></subform></template>"
    )
    t = pdf.stream(template)
    preamble = pdf.stream(b'<xdp:xdp xmlns:xdp="http://ns.adobe.com/xdp/">')
    postamble = pdf.stream(b"</xdp:xdp>")
    field = pdf.add(f"<< /Type /Annot /Subtype /Widget /FT /Tx /T (f) /Rect [72 600 300 620] "
                    f"/P {kids[0]} 0 R >>")
    with_annots(pdf, kids[0], [field])
    form = pdf.add(
        f"<< /Fields [{field} 0 R] /XFA [(preamble) {preamble} 0 R (template) {t} 0 R "
        f"(postamble) {postamble} 0 R] >>"
    )
    root = pdf.add(f"<< /Type /Catalog /Pages {pages} 0 R /AcroForm {form} 0 R "
                   "/NeedsRendering true >>")
    return pdf.write(root)


def multimedia() -> bytes:
    """RichMedia, 3D, Screen with a Rendition action, a Sound annotation, associated files, and
    a JavaScript name tree."""
    pdf = Pdf()
    pages = pdf.reserve()
    kids = text_pages(pdf, pages, ["Media"])
    set_pages(pdf, pages, kids)
    swf = pdf.stream(b"FWS\x0a\x00\x00\x00\x00", " /Type /EmbeddedFile")
    swf_spec = pdf.add(f"<< /Type /Filespec /F (player.swf) /EF << /F {swf} 0 R >> >>")
    rich = pdf.add(
        f"<< /Type /Annot /Subtype /RichMedia /Rect [72 500 272 600] "
        f"/RichMediaContent << /Assets << /Names [(player.swf) {swf_spec} 0 R] >> >> >>"
    )
    u3d = pdf.stream(b"U3D\x00", " /Type /3D /Subtype /U3D")
    three_d = pdf.add(f"<< /Type /Annot /Subtype /3D /Rect [300 500 500 600] /3DD {u3d} 0 R >>")
    clip = pdf.add("<< /Type /MediaClip /S /MCD /D (movie.mp4) >>")
    rendition = pdf.add(f"<< /Type /Rendition /S /MR /C {clip} 0 R >>")
    screen = pdf.reserve()
    pdf.set(screen, f"<< /Type /Annot /Subtype /Screen /Rect [72 380 272 480] "
                    f"/A << /S /Rendition /OP 0 /R {rendition} 0 R /AN {screen} 0 R >> >>")
    sound = pdf.stream(b"\x00" * 16, " /Type /Sound /R 8000")
    sound_annot = pdf.add(f"<< /Type /Annot /Subtype /Sound /Rect [300 380 320 400] "
                          f"/Sound {sound} 0 R >>")
    with_annots(pdf, kids[0], [rich, three_d, screen, sound_annot])
    data = pdf.stream(b"a,b\n1,2\n", " /Type /EmbeddedFile /Subtype /text#2Fcsv")
    assoc = pdf.add(f"<< /Type /Filespec /F (data.csv) /AFRelationship /Data "
                    f"/EF << /F {data} 0 R >> >>")
    js = pdf.add("<< /S /JavaScript /JS (console.println\\('named'\\)) >>")
    names = pdf.add(f"<< /JavaScript << /Names [(init) {js} 0 R] >> >>")
    root = pdf.add(f"<< /Type /Catalog /Pages {pages} 0 R /AF [{assoc} 0 R] /Names {names} 0 R >>")
    return pdf.write(root)


def clean_multipage() -> bytes:
    """Three pages, an outline and links inside the document: rebuilt, nothing removed."""
    pdf = Pdf()
    pages = pdf.reserve()
    kids = text_pages(pdf, pages, ["Page one", "Page two", "Page three"])
    link = pdf.add(f"<< /Type /Annot /Subtype /Link /Rect [72 700 200 740] /Border [0 0 0] "
                   f"/Dest [{kids[2]} 0 R /XYZ 0 792 0] >>")
    with_annots(pdf, kids[0], [link])
    set_pages(pdf, pages, kids)
    first = pdf.reserve()
    second = pdf.reserve()
    outlines = pdf.add(f"<< /Type /Outlines /First {first} 0 R /Last {second} 0 R /Count 2 >>")
    pdf.set(first, f"<< /Title (One) /Parent {outlines} 0 R /Next {second} 0 R "
                   f"/A << /S /GoTo /D [{kids[0]} 0 R /Fit] >> >>")
    pdf.set(second, f"<< /Title (Two) /Parent {outlines} 0 R /Prev {first} 0 R "
                    f"/Dest [{kids[1]} 0 R /Fit] >>")
    info = pdf.add("<< /Title (Minutes) /Producer (mugaika samples) >>")
    root = pdf.add(f"<< /Type /Catalog /Pages {pages} 0 R /Outlines {outlines} 0 R "
                   f"/OpenAction [{kids[0]} 0 R /Fit] /PageMode /UseOutlines >>")
    return pdf.write(root, info)


def qpdf(args: list[str], src: bytes) -> bytes:
    """Runs the qpdf command on `src`; qpdf exits 3 when it only warned."""
    with tempfile.TemporaryDirectory() as tmp:
        inp = Path(tmp) / "in.pdf"
        outp = Path(tmp) / "out.pdf"
        inp.write_bytes(src)
        r = subprocess.run(["qpdf", *args, str(inp), str(outp)], capture_output=True, check=False)
        if r.returncode not in (0, 3):
            raise RuntimeError(f"qpdf failed: {r.stderr.decode(errors='replace')}")
        return outp.read_bytes()


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    out.mkdir(parents=True, exist_ok=True)
    clean = clean_multipage()
    form = launch_form_uri()
    encrypt = ["--static-id", "--static-aes-iv", "--encrypt"]
    samples = {
        "openaction_js_embedded.pdf": openaction_js_embedded(),
        "launch_form_uri.pdf": form,
        "xfa.pdf": xfa(),
        "multimedia.pdf": multimedia(),
        "clean_multipage.pdf": clean,
        "truncated.pdf": clean[: len(clean) * 6 // 10],
        "objstm_actions.pdf": qpdf(["--deterministic-id", "--object-streams=generate"], form),
        "encrypted_owner.pdf": qpdf([*encrypt, "", "owner-secret", "128", "--use-aes=y", "--"],
                                    clean),
        "encrypted_user.pdf": qpdf([*encrypt, "user-secret", "owner-secret", "128",
                                    "--use-aes=y", "--"], clean),
    }
    for name, data in samples.items():
        (out / name).write_bytes(data)


if __name__ == "__main__":
    main()
