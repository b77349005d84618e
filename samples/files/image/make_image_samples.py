#!/usr/bin/env python3
"""Writes the image samples of the CDR image engine (samples/files/image/), byte for byte the same
on every run, with the Python standard library only: the JPEG, GIF, TIFF, BMP and WebP encoders
below are minimal (baseline JPEG with flat Huffman tables, uncompressed LZW GIF, uncompressed TIFF,
a two-colour-per-channel lossless WebP) but produce files every decoder reads.

    python3 samples/files/image/make_image_samples.py [OUT_DIR]   (default: this directory)

README.md in this directory lists each file, what it carries and what the engine must remove.
"""

from __future__ import annotations

import io
import math
import struct
import sys
import zipfile
import zlib
from pathlib import Path

FIXED_TIME = (2025, 4, 10, 9, 30, 0)


# ---------------------------------------------------------------------------------------------
# Pixels: a deterministic RGB test pattern (gradients and a few blocks).

def pattern(width: int, height: int) -> list[tuple[int, int, int]]:
    px = []
    for y in range(height):
        for x in range(width):
            r = (x * 255) // max(1, width - 1)
            g = (y * 255) // max(1, height - 1)
            b = 200 if (x // 8 + y // 8) % 2 else 40
            px.append((r, g, b))
    return px


# ---------------------------------------------------------------------------------------------
# Metadata payloads (no real personal data; they only have to look like what cameras write).

def exif_blob() -> bytes:
    """A little-endian TIFF structure with Make, Model and DateTime: what an EXIF block is."""
    entries = [(0x010F, b"MugaikaCam\0"), (0x0110, b"Model-GPS-Leak\0"),
               (0x0132, b"2025:04:10 09:30:00\0")]
    count = len(entries)
    data_off = 8 + 2 + count * 12 + 4
    ifd = struct.pack("<H", count)
    data = b""
    for tag, value in entries:
        ifd += struct.pack("<HHII", tag, 2, len(value), data_off + len(data))
        data += value
    ifd += struct.pack("<I", 0)
    return b"II*\0" + struct.pack("<I", 8) + ifd + data


XMP = (b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>'
       b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
       b'22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/'
       b'1.1/"><dc:creator>secret author</dc:creator></rdf:Description></rdf:RDF></x:xmpmeta>'
       b'<?xpacket end="w"?>')


def iptc_blob() -> bytes:
    caption = b"confidential caption"
    iptc = b"\x1c\x02\x78" + struct.pack(">H", len(caption)) + caption
    res = b"8BIM" + struct.pack(">H", 0x0404) + b"\0\0" + struct.pack(">I", len(iptc)) + iptc
    if len(res) % 2:
        res += b"\0"
    return b"Photoshop 3.0\0" + res


# ---------------------------------------------------------------------------------------------
# JPEG: baseline, 4:4:4, one flat quantisation table and "flat" Huffman tables (every symbol
# used gets an 8-bit code), which keeps the encoder short and the output valid.

_ZIGZAG = [0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34,
           27, 20, 13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37,
           44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63]
_COS = [[math.cos((2 * x + 1) * u * math.pi / 16) for x in range(8)] for u in range(8)]
_QUANT = 6


def _fdct(block: list[float]) -> list[int]:
    out = [0] * 64
    for v in range(8):
        for u in range(8):
            s = 0.0
            for y in range(8):
                cy = _COS[v][y]
                row = block[y * 8:(y + 1) * 8]
                for x in range(8):
                    s += row[x] * _COS[u][x] * cy
            cu = 1 / math.sqrt(2) if u == 0 else 1.0
            cv = 1 / math.sqrt(2) if v == 0 else 1.0
            out[v * 8 + u] = int(round(0.25 * cu * cv * s / _QUANT))
    return out


def _category(v: int) -> int:
    return 0 if v == 0 else abs(v).bit_length()


def _bits_of(v: int, n: int) -> int:
    return v if v >= 0 else v + (1 << n) - 1


class _BitWriter:
    def __init__(self) -> None:
        self.out = bytearray()
        self.acc = 0
        self.n = 0

    def put(self, value: int, count: int) -> None:
        for i in range(count - 1, -1, -1):
            self.acc = (self.acc << 1) | ((value >> i) & 1)
            self.n += 1
            if self.n == 8:
                self.out.append(self.acc)
                if self.acc == 0xFF:
                    self.out.append(0)
                self.acc = 0
                self.n = 0

    def flush(self) -> bytes:
        while self.n:
            self.put(1, 1)
        return bytes(self.out)


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def jpeg(width: int, height: int, extra_segments: list[bytes] = ()) -> bytes:
    """Baseline JPEG of pattern(width, height); width and height multiples of 8."""
    px = pattern(width, height)
    ycc = []
    for r, g, b in px:
        ycc.append((0.299 * r + 0.587 * g + 0.114 * b - 128,
                    -0.168736 * r - 0.331264 * g + 0.5 * b,
                    0.5 * r - 0.418688 * g - 0.081312 * b))
    # Coefficients per block, interleaved Y, Cb, Cr (4:4:4: one block of each per MCU).
    blocks = []
    for by in range(0, height, 8):
        for bx in range(0, width, 8):
            for c in range(3):
                blk = [ycc[(by + y) * width + bx + x][c] for y in range(8) for x in range(8)]
                coeffs = _fdct(blk)
                blocks.append((c, [coeffs[z] for z in _ZIGZAG]))
    # Symbols.
    prev = [0, 0, 0]
    coded = []  # (table, symbol, extra_value, extra_bits)
    for c, zz in blocks:
        diff = zz[0] - prev[c]
        prev[c] = zz[0]
        cat = _category(diff)
        coded.append((0, cat, _bits_of(diff, cat), cat))
        run = 0
        last = max((i for i in range(1, 64) if zz[i] != 0), default=0)
        for i in range(1, last + 1):
            if zz[i] == 0:
                run += 1
                continue
            while run > 15:
                coded.append((1, 0xF0, 0, 0))
                run -= 16
            cat = _category(zz[i])
            coded.append((1, (run << 4) | cat, _bits_of(zz[i], cat), cat))
            run = 0
        if last < 63:
            coded.append((1, 0x00, 0, 0))
    tables = [sorted({s for t, s, _, _ in coded if t == 0}), sorted({s for t, s, _, _ in coded if t == 1})]
    w = _BitWriter()
    for t, s, v, n in coded:
        w.put(tables[t].index(s), 8)
        if n:
            w.put(v, n)
    scan = w.flush()
    out = b"\xff\xd8"
    out += _segment(0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0")
    for seg in extra_segments:
        out += seg
    out += _segment(0xDB, b"\x00" + bytes([_QUANT] * 64))
    out += _segment(0xC0, struct.pack(">BHHB", 8, height, width, 3) +
                    b"\x01\x11\x00\x02\x11\x00\x03\x11\x00")
    for cls, syms in ((0, tables[0]), (1, tables[1])):
        counts = [0] * 16
        counts[7] = len(syms)
        out += _segment(0xC4, bytes([(cls << 4) | 0]) + bytes(counts) + bytes(syms))
    out += _segment(0xDA, b"\x03\x01\x00\x02\x00\x03\x00\x00\x3f\x00")
    out += scan + b"\xff\xd9"
    return out


def jpeg_with_metadata() -> bytes:
    return jpeg(64, 48, [
        _segment(0xE1, b"Exif\0\0" + exif_blob()),
        _segment(0xE1, b"http://ns.adobe.com/xap/1.0/\0" + XMP),
        _segment(0xED, iptc_blob()),
        _segment(0xFE, b"secret comment from the camera"),
    ])


def small_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        zi = zipfile.ZipInfo("payload/run.bat", date_time=FIXED_TIME)
        zi.compress_type = zipfile.ZIP_DEFLATED
        zi.external_attr = 0o644 << 16
        zi.create_system = 3
        z.writestr(zi, b"@echo off\r\necho this must not survive\r\n")
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------
# PNG.

def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int, height: int, extra: list[bytes] = (), px=None) -> bytes:
    px = px or pattern(width, height)
    raw = bytearray()
    for y in range(height):
        raw.append(0)
        for r, g, b in px[y * width:(y + 1) * width]:
            raw += bytes((r, g, b))
    out = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    for c in extra:
        out += c
    out += _chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + _chunk(b"IEND", b"")
    return out


def png_with_text() -> bytes:
    return png(48, 32, [
        _chunk(b"tEXt", b"Comment\0secret text chunk"),
        _chunk(b"zTXt", b"Author\0\0" + zlib.compress(b"secret author", 9)),
        _chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0" + XMP),
        _chunk(b"eXIf", exif_blob()),
        _chunk(b"tIME", struct.pack(">HBBBBB", 2025, 4, 10, 9, 30, 0)),
        _chunk(b"prVt", b"private ancillary chunk payload"),
    ])


def png_bomb_header() -> bytes:
    """Claims 100000 x 100000 (10^10 pixels, 30 GB of RGB); holds two rows of zeros."""
    w = h = 100000
    rows = (b"\0" + b"\0" * w) * 2
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) +
            _chunk(b"IDAT", zlib.compress(rows, 9)) + _chunk(b"IEND", b""))


# ---------------------------------------------------------------------------------------------
# GIF: 256-entry palette, LZW with a clear code every 250 literals so codes stay 9 bits wide.

def _palette_image(width: int, height: int, shift: int = 0) -> tuple[bytes, list[int]]:
    palette = bytearray()
    for i in range(256):
        palette += bytes(((i * 7) & 0xFF, (i * 13) & 0xFF, (255 - i) & 0xFF))
    idx = [((x // 4 + y // 4 + shift) % 16) * 16 + (x % 16) for y in range(height)
           for x in range(width)]
    return bytes(palette), idx


def _lzw(indices: list[int]) -> bytes:
    codes = []
    for i, v in enumerate(indices):
        if i % 250 == 0:
            codes.append(256)
        codes.append(v)
    codes.append(257)
    acc = 0
    n = 0
    out = bytearray()
    for c in codes:
        acc |= c << n
        n += 9
        while n >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            n -= 8
    if n:
        out.append(acc & 0xFF)
    blocks = bytearray([8])
    for i in range(0, len(out), 255):
        part = out[i:i + 255]
        blocks += bytes([len(part)]) + part
    return bytes(blocks + b"\0")


def gif(width: int, height: int, frames: int = 1, comment: bytes | None = None) -> bytes:
    palette, _ = _palette_image(width, height)
    out = b"GIF89a" + struct.pack("<HHBBB", width, height, 0xF7, 0, 0) + palette
    if frames > 1:
        out += b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    if comment is not None:
        out += b"\x21\xfe" + bytes([len(comment)]) + comment + b"\0"
    for f in range(frames):
        _, idx = _palette_image(width, height, shift=f * 3)
        if frames > 1:
            out += b"\x21\xf9\x04\x04" + struct.pack("<H", 20) + b"\0\0"
        out += b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0) + _lzw(idx)
    return out + b"\x3b"


# ---------------------------------------------------------------------------------------------
# BMP (24-bit, bottom-up) and TIFF (uncompressed RGB, one strip).

def bmp(width: int, height: int) -> bytes:
    px = pattern(width, height)
    stride = (width * 3 + 3) & ~3
    data = bytearray()
    for y in range(height - 1, -1, -1):
        row = bytearray()
        for r, g, b in px[y * width:(y + 1) * width]:
            row += bytes((b, g, r))
        data += row + b"\0" * (stride - len(row))
    header = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, len(data), 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + 40 + len(data), 0, 0, 54) + header + bytes(data)


def tiff(width: int, height: int) -> bytes:
    px = pattern(width, height)
    pixels = b"".join(bytes(p) for p in px)
    desc = b"secret scanner description\0"
    artist = b"secret artist\0"
    entries = 11
    ifd_off = 8
    data_off = ifd_off + 2 + entries * 12 + 4
    bps_off = data_off
    desc_off = bps_off + 6
    artist_off = desc_off + len(desc)
    pix_off = artist_off + len(artist)
    tags = [
        (256, 4, 1, width), (257, 4, 1, height), (258, 3, 3, bps_off), (259, 3, 1, 1),
        (262, 3, 1, 2), (270, 2, len(desc), desc_off), (273, 4, 1, pix_off), (277, 3, 1, 3),
        (278, 4, 1, height), (279, 4, 1, len(pixels)), (315, 2, len(artist), artist_off),
    ]
    ifd = struct.pack("<H", entries)
    for tag, typ, count, value in tags:
        if typ == 3 and count == 1:
            ifd += struct.pack("<HHIHH", tag, typ, count, value, 0)
        else:
            ifd += struct.pack("<HHII", tag, typ, count, value)
    ifd += struct.pack("<I", 0)
    return (b"II*\0" + struct.pack("<I", ifd_off) + ifd + struct.pack("<HHH", 8, 8, 8) + desc +
            artist + pixels)


# ---------------------------------------------------------------------------------------------
# WebP lossless (VP8L) with no transforms and "simple" prefix codes of one or two symbols per
# channel: each pixel costs one bit for green and one for red.

class _LsbWriter:
    def __init__(self) -> None:
        self.acc = 0
        self.n = 0

    def put(self, value: int, count: int) -> None:
        self.acc |= (value & ((1 << count) - 1)) << self.n
        self.n += count

    def bytes(self) -> bytes:
        return self.acc.to_bytes((self.n + 7) // 8, "little")


def vp8l(width: int, height: int, shift: int = 0) -> bytes:
    greens = (40, 200)
    reds = (30, 220)
    blue, alpha = 120, 255
    w = _LsbWriter()
    w.put(0x2F, 8)
    w.put(width - 1, 14)
    w.put(height - 1, 14)
    w.put(0, 1)  # alpha not used
    w.put(0, 3)  # version
    w.put(0, 1)  # no transform
    w.put(0, 1)  # no colour cache
    w.put(0, 1)  # no meta prefix codes

    def simple(symbols: tuple[int, ...]) -> None:
        w.put(1, 1)
        w.put(len(symbols) - 1, 1)
        w.put(1, 1)  # 8-bit first symbol
        for s in symbols:
            w.put(s, 8)

    simple(greens)
    simple(reds)
    simple((blue,))
    simple((alpha,))
    simple((0,))  # distance
    for y in range(height):
        for x in range(width):
            g = ((x + shift) // 4 + y // 4) % 2
            r = (x // 2) % 2
            w.put(g, 1)  # the smaller symbol has code 0
            w.put(r, 1)
    return w.bytes()


def _riff_chunk(kind: bytes, data: bytes) -> bytes:
    pad = b"\0" if len(data) % 2 else b""
    return kind + struct.pack("<I", len(data)) + data + pad


def _riff(chunks: bytes) -> bytes:
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WEBP" + chunks


def _u24(v: int) -> bytes:
    return struct.pack("<I", v)[:3]


def webp_with_metadata(width: int, height: int) -> bytes:
    vp8x = bytes([0x08 | 0x04]) + b"\0\0\0" + _u24(width - 1) + _u24(height - 1)
    return _riff(_riff_chunk(b"VP8X", vp8x) + _riff_chunk(b"VP8L", vp8l(width, height)) +
                 _riff_chunk(b"EXIF", exif_blob()) + _riff_chunk(b"XMP ", XMP))


def webp_animated(width: int, height: int, frames: int) -> bytes:
    vp8x = bytes([0x02]) + b"\0\0\0" + _u24(width - 1) + _u24(height - 1)
    body = _riff_chunk(b"VP8X", vp8x) + _riff_chunk(b"ANIM", b"\xff\xff\xff\xff" + b"\0\0")
    for f in range(frames):
        frame = _u24(0) + _u24(0) + _u24(width - 1) + _u24(height - 1) + _u24(100) + b"\0"
        frame += _riff_chunk(b"VP8L", vp8l(width, height, shift=f * 2))
        body += _riff_chunk(b"ANMF", frame)
    return _riff(body)


# ---------------------------------------------------------------------------------------------

def samples() -> dict[str, bytes]:
    photo = jpeg_with_metadata()
    text_png = png_with_text()
    return {
        "photo-metadata.jpg": photo,
        "jpeg-trailing-zip.jpg": jpeg(32, 32) + small_zip(),
        "png-text-exif.png": text_png,
        "png-bomb-header.png": png_bomb_header(),
        "gif-comment.gif": gif(40, 24, comment=b"secret GIF comment"),
        "gif-animated.gif": gif(40, 24, frames=3),
        "bitmap.bmp": bmp(33, 17),
        "scan.tif": tiff(40, 30),
        "webp-metadata.webp": webp_with_metadata(40, 24),
        "webp-animated.webp": webp_animated(40, 24, 3),
        "truncated.jpg": photo[:len(photo) * 6 // 10],
        "truncated.png": text_png[:len(text_png) * 7 // 10],
        "garbage.png": b"\x89PNG\r\n\x1a\n" + bytes((i * 37 + 11) & 0xFF for i in range(600)),
    }


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    for name, data in samples().items():
        (out / name).write_bytes(data)
        print(f"{out / name}: {len(data)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
