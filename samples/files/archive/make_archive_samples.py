#!/usr/bin/env python3
"""Writes the zip samples of the CDR archive engine (samples/files/archive/), byte for byte the
same on every run, with the Python standard library only. The PKWARE encryption, the program
headers and the minimal macro document come from samples/mail/make_archive_samples.py; the images from
samples/files/image/make_image_samples.py.

    python3 samples/files/archive/make_archive_samples.py [OUT_DIR]   (default: this directory)

README.md in this directory lists each file and what the engine must do with it.
"""

from __future__ import annotations

import importlib.util
import io
import struct
import sys
import zipfile
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIXED_TIME = (2025, 4, 10, 9, 30, 0)


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


mail_samples = _load("make_archive_samples", HERE.parent.parent / "mail" / "make_archive_samples.py")
image_samples = _load("make_image_samples", HERE.parent / "image" / "make_image_samples.py")


def _info(name: str, mode: int = 0o644) -> zipfile.ZipInfo:
    zi = zipfile.ZipInfo(name, date_time=FIXED_TIME)
    zi.compress_type = zipfile.ZIP_DEFLATED
    zi.external_attr = mode << 16
    zi.create_system = 3
    return zi


def plain_zip(members: list[tuple[str, bytes]], comment: bytes = b"") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members:
            z.writestr(_info(name), data)
        z.comment = comment
    return buf.getvalue()


def raw_zip(members: list[tuple[bytes, bytes, int]], lie_size: int | None = None) -> bytes:
    """A zip written by hand: names as raw bytes, general purpose flags as given (0: no UTF-8
    flag, what Japanese Windows writes), deflated. `lie_size` replaces the declared inflated
    size of every member."""
    dos_time = (FIXED_TIME[3] << 11) | (FIXED_TIME[4] << 5) | (FIXED_TIME[5] // 2)
    dos_date = ((FIXED_TIME[0] - 1980) << 9) | (FIXED_TIME[1] << 5) | FIXED_TIME[2]
    local = bytearray()
    central = bytearray()
    for name, data, flags in members:
        crc = zlib.crc32(data)
        co = zlib.compressobj(9, zlib.DEFLATED, -15)
        body = co.compress(data) + co.flush()
        size = len(data) if lie_size is None else lie_size
        offset = len(local)
        local += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, flags, 8, dos_time, dos_date, crc,
                             len(body), size, len(name), 0)
        local += name + body
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 0x0314, 20, flags, 8, dos_time,
                               dos_date, crc, len(body), size, len(name), 0, 0, 0, 0,
                               0o100644 << 16, offset)
        central += name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central),
                      len(local), 0)
    return bytes(local + central + end)


def symlink_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(_info("ok.txt"), b"fine\n")
        z.writestr(_info("link-to-passwd", 0o120777), b"/etc/passwd")
    return buf.getvalue()


def samples() -> dict[str, bytes]:
    csv = "項目,値\r\n予算,\"1,200\"\r\n".encode("cp932")
    text_and_image = plain_zip([
        ("議事録.txt", "第1回 会議 議事録\n出席者: 5名\n".encode()),
        ("写真/photo.jpg", image_samples.jpeg_with_metadata()),
        ("集計.csv", csv),
        ("scan.bmp", image_samples.bmp(33, 17)),
        ("empty.txt", b""),
    ], comment=b"archive comment: created by tool X")
    deep = plain_zip([("a.txt", b"level 4\n")])
    for level in (4, 3, 2):
        deep = plain_zip([(f"level{level}.txt", f"level {level - 1}\n".encode()),
                          (f"level{level}.zip", deep)])
    return {
        "text-and-image.zip": text_and_image,
        "cp932-names.zip": raw_zip([
            ("ソフト一覧.txt".encode("cp932"), "一覧です\n".encode("cp932"), 0),
            ("表計算\\予定表.csv".encode("cp932"), csv, 0),
        ]),
        "nested-exe.zip": plain_zip([
            ("readme.txt", b"Read me first.\n"),
            ("tools/setup.exe", mail_samples.tiny_pe()),
            ("inner.zip", plain_zip([
                ("memo.txt", "メモ\n".encode()),
                ("run.bat", b"@echo off\r\ndel /q *.*\r\n"),
            ])),
        ]),
        "deep-nesting.zip": deep,
        "docm-inside.zip": plain_zip([
            ("入力様式.docm", mail_samples.docm_bytes()),
            ("memo.txt", b"fill in the form\n"),
        ]),
        "encrypted.zip": mail_samples.encrypted_zip(
            [("見積書.txt", "見積金額 1,000円\n".encode()), ("説明.txt", b"notes\n")], b"Pa55w0rd"),
        "zip-bomb.zip": mail_samples.bomb_zip(members=8),
        "bomb-lying-header.zip": raw_zip([(b"data.bin", b"\0" * (8 << 20), 0)], lie_size=1000),
        "traversal.zip": raw_zip([
            (b"../../etc/cron.d/evil", b"* * * * * root true\n", 0),
            (b"/abs/path.txt", b"absolute\n", 0),
            (b"C:\\Windows\\evil.txt", b"drive\n", 0),
            (b"ok.txt", b"fine\n", 0),
            (b"dup.txt", b"first\n", 0),
            (b"DUP.txt", b"second\n", 0),
        ]),
        "symlink.zip": symlink_zip(),
        "truncated.zip": text_and_image[:len(text_and_image) // 2],
    }


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    for name, data in samples().items():
        (out / name).write_bytes(data)
        print(f"{out / name}: {len(data)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
