#!/usr/bin/env python3
"""Writes the archive sample mails (samples/mail/42-*.eml to 45-*.eml), byte for byte the same on
every run: an archive bomb, a password-protected zip (PPAP), a zip holding a program and a macro
document, and a zip holding a nested zip. Python's standard library only; the password-protected
zip is written with the traditional PKWARE encryption implemented below, because zipfile can read
but not write it. The e2e tests import the builders from here.

    python3 samples/mail/make_archive_samples.py [OUT_DIR]    (default: samples/mail)

After changing a sample, regenerate the expected outputs (see tests/unit/gateway/pipeline/
golden_test.cpp) and review the difference.
"""

from __future__ import annotations

import base64
import io
import struct
import sys
import zipfile
import zlib
from pathlib import Path

FIXED_TIME = (2025, 4, 10, 9, 30, 0)


def _info(name: str, compress: int = zipfile.ZIP_DEFLATED) -> zipfile.ZipInfo:
    zi = zipfile.ZipInfo(name, date_time=FIXED_TIME)
    zi.compress_type = compress
    zi.external_attr = 0o644 << 16
    zi.create_system = 3
    return zi


def plain_zip(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members:
            z.writestr(_info(name), data)
    return buf.getvalue()


def bomb_zip(members: int = 2, member_size: int = 64 * 1024 * 1024) -> bytes:
    """A zip whose members are zeros: about 1000 inflated bytes per compressed byte."""
    block = b"\0" * (1024 * 1024)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compresslevel=9) as z:
        for i in range(members):
            with z.open(_info(f"data{i + 1}.bin"), "w", force_zip64=True) as w:
                for _ in range(member_size // len(block)):
                    w.write(block)
    return buf.getvalue()


# Traditional PKWARE encryption (APPNOTE.TXT 6.1): a stream cipher keyed by the password.
_CRC_TABLE = [0] * 256
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0xEDB88320 if _c & 1 else _c >> 1
    _CRC_TABLE[_i] = _c


class _ZipCrypto:
    def __init__(self, password: bytes):
        self.k0, self.k1, self.k2 = 0x12345678, 0x23456789, 0x34567890
        for b in password:
            self._update(b)

    def _crc(self, crc: int, b: int) -> int:
        return (crc >> 8) ^ _CRC_TABLE[(crc ^ b) & 0xFF]

    def _update(self, b: int) -> None:
        self.k0 = self._crc(self.k0, b)
        self.k1 = (self.k1 + (self.k0 & 0xFF)) & 0xFFFFFFFF
        self.k1 = (self.k1 * 134775813 + 1) & 0xFFFFFFFF
        self.k2 = self._crc(self.k2, self.k1 >> 24)

    def encrypt(self, data: bytes) -> bytes:
        out = bytearray()
        for b in data:
            t = (self.k2 | 2) & 0xFFFF
            out.append(b ^ (((t * (t ^ 1)) >> 8) & 0xFF))
            self._update(b)
        return bytes(out)


def encrypted_zip(members: list[tuple[str, bytes]], password: bytes) -> bytes:
    """A zip whose members are deflated and encrypted with `password` (what PPAP mails carry).
    The 12-byte encryption headers are derived from the member name, so the output is stable."""
    dos_time = (FIXED_TIME[3] << 11) | (FIXED_TIME[4] << 5) | (FIXED_TIME[5] // 2)
    dos_date = ((FIXED_TIME[0] - 1980) << 9) | (FIXED_TIME[1] << 5) | FIXED_TIME[2]
    local = bytearray()
    central = bytearray()
    for name, data in members:
        raw_name = name.encode("utf-8")
        crc = zlib.crc32(data)
        co = zlib.compressobj(9, zlib.DEFLATED, -15)
        deflated = co.compress(data) + co.flush()
        header = bytes((zlib.crc32(raw_name + bytes([i])) & 0xFF) for i in range(11))
        header += bytes([(crc >> 24) & 0xFF])
        body = _ZipCrypto(password).encrypt(header + deflated)
        flags = 0x0001 | 0x0800  # encrypted, UTF-8 name
        offset = len(local)
        local += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, flags, 8, dos_time, dos_date, crc,
                             len(body), len(data), len(raw_name), 0)
        local += raw_name + body
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 0x031E, 20, flags, 8, dos_time,
                               dos_date, crc, len(body), len(data), len(raw_name), 0, 0, 0, 0,
                               0o644 << 16, offset)
        central += raw_name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central),
                      len(local), 0)
    return bytes(local + central + end)


def tiny_pe() -> bytes:
    """The headers of a Windows program (enough for libmagic); it does nothing and cannot run."""
    mz = bytearray(b"MZ" + b"\0" * 62)
    struct.pack_into("<I", mz, 0x3C, 0x40)
    pe = b"PE\0\0" + struct.pack("<HHIIIHH", 0x14C, 0, 0, 0, 0, 0xE0, 0x0102)
    opt = struct.pack("<H", 0x10B) + b"\0" * (0xE0 - 2)
    return bytes(mz) + pe + opt + b"\0" * 256


def docm_bytes() -> bytes:
    """A minimal macro-enabled Word package: its VBA project is the member that matters."""
    return plain_zip([
        ("[Content_Types].xml",
         b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
         b'package/2006/content-types"><Override PartName="/word/document.xml" ContentType="'
         b'application/vnd.ms-word.document.macroEnabled.main+xml"/></Types>'),
        ("word/document.xml", b'<?xml version="1.0"?><w:document/>'),
        ("word/vbaProject.bin", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504),
    ])


def mail(number: int, subject: str, body: str, attachments: list[tuple[str, str, bytes]]) -> bytes:
    def encoded_word(s: str) -> str:
        return "=?UTF-8?B?" + base64.b64encode(s.encode()).decode() + "?="

    boundary = f"mixed-{number}"
    lines = [
        "Received: from mx.example.jp (mx.example.jp [192.0.2.%d])" % number,
        "\tby mx.city.example.lg.jp with ESMTPS id S00%d;" % number,
        "\tThu, 10 Apr 2025 09:%02d:00 +0900" % number,
        "Date: Thu, 10 Apr 2025 09:%02d:00 +0900" % number,
        "From: " + encoded_word("株式会社サンプル商事 営業部") + " <sales@example.com>",
        "To: soumu@city.example.lg.jp",
        "Subject: " + encoded_word(subject),
        f"Message-ID: <{number}.sample@mugaika.example>",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/mixed; boundary="{boundary}"',
        "",
        f"--{boundary}",
        "Content-Type: text/plain; charset=UTF-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        body.rstrip("\n"),
    ]
    for name, ctype, data in attachments:
        quoted = "".join(c if c.isascii() and (c.isalnum() or c in ".-_") else
                         "".join(f"%{b:02X}" for b in c.encode()) for c in name)
        param = f"UTF-8''{quoted}" if not name.isascii() else None
        lines += [
            f"--{boundary}",
            f"Content-Type: {ctype}; " + (f"name*={param}" if param else f'name="{name}"'),
            "Content-Transfer-Encoding: base64",
            "Content-Disposition: attachment; " +
            (f"filename*={param}" if param else f'filename="{name}"'),
            "",
        ]
        b64 = base64.b64encode(data).decode()
        lines += [b64[i:i + 76] for i in range(0, len(b64), 76)]
    lines += [f"--{boundary}--", ""]
    # CRLF line ends, as mail travels (and as every sample is stored).
    return "\n".join(lines).replace("\n", "\r\n").encode()


def samples() -> dict[str, bytes]:
    return {
        "42-archive-bomb.eml": mail(
            42, "資料送付（圧縮ファイル）",
            "総務課 御中\n\n資料一式を圧縮してお送りします。\nご確認ください。\n",
            [("資料一式.zip", "application/zip", bomb_zip())]),
        "43-ppap-encrypted-zip.eml": mail(
            43, "見積書の送付",
            "総務課 御中\n\nお見積書をお送りします。\n"
            "パスワードは別のメールでお送りします。\n",
            [("見積書.zip", "application/zip",
              encrypted_zip([("見積書.xlsx", b"PK\x03\x04 quotation " * 40),
                             ("説明.txt", "見積の説明です。\n".encode())], b"Pa55w0rd"))]),
        "44-zip-with-program-and-macro.eml": mail(
            44, "ツールと様式の送付",
            "総務課 御中\n\n集計ツールと入力様式を送ります。\nツールを実行してから様式を開いてください。\n",
            [("tools.zip", "application/zip",
              plain_zip([("集計ツール/setup.exe", tiny_pe()),
                         ("集計ツール/run.bat", b"@echo off\r\nsetup.exe\r\n"),
                         ("入力様式.docm", docm_bytes())]))]),
        "45-nested-zip.eml": mail(
            45, "議事録の送付",
            "総務課 御中\n\n議事録をお送りします。\n",
            [("議事録.zip", "application/zip",
              plain_zip([("議事録.txt", "第1回 会議 議事録\n出席者: 5名\n".encode()),
                         ("添付資料.zip", plain_zip([("資料1.csv", "項目,値\n予算,100\n".encode())]))]))]),
    }


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    for name, data in samples().items():
        (out / name).write_bytes(data)
        print(f"{out / name}: {len(data)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
