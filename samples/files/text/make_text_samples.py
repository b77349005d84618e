#!/usr/bin/env python3
"""Writes the text samples of the CDR text engine (samples/files/text/), byte for byte the same on
every run, with the Python standard library only.

    python3 samples/files/text/make_text_samples.py [OUT_DIR]   (default: this directory)

README.md in this directory lists each file and what the engine must change.
"""

from __future__ import annotations

import sys
from pathlib import Path

CSV_ROWS = [
    "番号,氏名,所属,金額,備考",
    '1,髙橋 太郎,総務課,"1,200",①会議室',
    '2,山﨑 花子,財政課,300,"～引用""符""～"',
    "3,ｶﾀｶﾅ 半角,情報政策課,45,㈱サンプル",
]


def samples() -> dict[str, bytes]:
    sjis_csv = ("\r\n".join(CSV_ROWS) + "\r\n").encode("cp932")
    # BEL, VT, DEL and an ANSI colour sequence (ESC [ 31 m) in the middle of ISO-2022-JP text:
    # ISO-2022-JP's own escapes are consumed by the decoder, these must be removed.
    memo = "会議のお知らせ\n\x07日時: 4月10日\x0b 10時\n場所: 第1会議室\x7f\n\x1b[31m以上\n"
    jis = memo.encode("iso2022_jp")
    xml = ('<?xml version="1.0" encoding="Shift_JIS"?>\r\n<申請><氏名>髙橋 太郎</氏名>'
           '<備考>①</備考></申請>\r\n').encode("cp932")
    json = ('{"name": "山田\u0007 太郎", "dept": "総務部 総務課 文書係", '
            '"note": "住民票の写しの交付申請について、窓口での受付時間を確認してください。"}\n'
            ).encode("euc_jp")
    return {
        "sjis.csv": sjis_csv,
        "iso2022jp-control.txt": jis,
        "shift_jis-declared.xml": xml,
        "eucjp.json": json,
        "utf16le-bom.txt": "\ufeff件名: テスト\r\n本文です。\r\n".encode("utf-16-le"),
        "utf8-bom.csv": ("\ufeff" + "\r\n".join(CSV_ROWS) + "\r\n").encode("utf-8"),
    }


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    for name, data in samples().items():
        (out / name).write_bytes(data)
        print(f"{out / name}: {len(data)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
