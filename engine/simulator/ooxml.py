"""Minimal but genuine Office Open XML documents (docx, xlsx, pptx) for the simulator's samples.

Customers send quotes, price lists and slides; the console offers "Open" on them, so the files the
simulator serves must open in Word, Excel, PowerPoint or LibreOffice, not merely sniff right.
Sniffers (filetype, libmagic) recognise OOXML by `[Content_Types].xml` being the first zip entry
and a `word/`, `xl/` or `ppt/` part soon after, so the part order below matters.
"""

from __future__ import annotations

import io
import zipfile

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"

_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_DOC_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_CT = "application/vnd.openxmlformats-officedocument."
_NS_A = "http://schemas.openxmlformats.org/drawingml/2006/main"
_NS_P = "http://schemas.openxmlformats.org/presentationml/2006/main"
_NS_ALL = f'xmlns:a="{_NS_A}" xmlns:r="{_DOC_REL}" xmlns:p="{_NS_P}"'


def _content_types(overrides: dict[str, str]) -> str:
    parts = "".join(
        f'<Override PartName="/{name}" ContentType="{_CT}{ctype}"/>' for name, ctype in overrides.items()
    )
    return (
        f'{_XML}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        f'<Default Extension="xml" ContentType="application/xml"/>{parts}</Types>'
    )


def _rels(*targets: tuple[str, str]) -> str:
    """A relationships part; each target is (relationship type suffix, target path)."""
    body = "".join(
        f'<Relationship Id="rId{i}" Type="{_DOC_REL}/{kind}" Target="{target}"/>'
        for i, (kind, target) in enumerate(targets, 1)
    )
    return f'{_XML}<Relationships xmlns="{_PKG_REL}">{body}</Relationships>'


def _docx() -> list[tuple[str, str]]:
    ns = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    paragraphs = ["Catering quote request", "Event: company breakfast, 40 guests",
                  "Items: croissants, fruit tarts, two sourdough loaves",
                  "Please confirm price and delivery."]
    body = "".join(f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>" for text in paragraphs)
    return [
        ("[Content_Types].xml", _content_types({"word/document.xml": "wordprocessingml.document.main+xml"})),
        ("_rels/.rels", _rels(("officeDocument", "word/document.xml"))),
        ("word/document.xml", f'{_XML}<w:document xmlns:w="{ns}"><w:body>{body}</w:body></w:document>'),
    ]


def _xlsx() -> list[tuple[str, str]]:
    ns = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rows = [("Item", "Price"), ("Wheat flour T65, 25 kg", 21.4), ("Butter, 10 kg", 68.0), ("Eggs, 360", 79.2)]
    cells = []
    for r, row in enumerate(rows, 1):
        out = []
        for c, value in zip("AB", row, strict=True):
            if isinstance(value, str):
                out.append(f'<c r="{c}{r}" t="inlineStr"><is><t>{value}</t></is></c>')
            else:
                out.append(f'<c r="{c}{r}"><v>{value}</v></c>')
        cells.append(f'<row r="{r}">{"".join(out)}</row>')
    return [
        ("[Content_Types].xml", _content_types({
            "xl/workbook.xml": "spreadsheetml.sheet.main+xml",
            "xl/worksheets/sheet1.xml": "spreadsheetml.worksheet+xml",
        })),
        ("_rels/.rels", _rels(("officeDocument", "xl/workbook.xml"))),
        ("xl/workbook.xml", f'{_XML}<workbook xmlns="{ns}" xmlns:r="{_DOC_REL}"><sheets>'
                            '<sheet name="Price list" sheetId="1" r:id="rId1"/></sheets></workbook>'),
        ("xl/_rels/workbook.xml.rels", _rels(("worksheet", "worksheets/sheet1.xml"))),
        ("xl/worksheets/sheet1.xml", f'{_XML}<worksheet xmlns="{ns}"><sheetData>{"".join(cells)}'
                                     "</sheetData></worksheet>"),
    ]


_EMPTY_TREE = ('<p:nvGrpSpPr><p:cNvPr id="1" name=""/><p:cNvGrpSpPr/><p:nvPr/></p:nvGrpSpPr>'
               "<p:grpSpPr/>")
_CLR_MAP = ('<p:clrMap bg1="lt1" tx1="dk1" bg2="lt2" tx2="dk2" accent1="accent1" accent2="accent2" '
            'accent3="accent3" accent4="accent4" accent5="accent5" accent6="accent6" hlink="hlink" '
            'folHlink="folHlink"/>')


def _theme() -> str:
    colors = {"dk2": "1F497D", "lt2": "EEECE1", "accent1": "C2410C", "accent2": "4D908E",
              "accent3": "F9C74F", "accent4": "F7A1C4", "accent5": "577590", "accent6": "90BE6D",
              "hlink": "0000FF", "folHlink": "800080"}
    scheme = ('<a:dk1><a:sysClr val="windowText" lastClr="000000"/></a:dk1>'
              '<a:lt1><a:sysClr val="window" lastClr="FFFFFF"/></a:lt1>'
              + "".join(f'<a:{k}><a:srgbClr val="{v}"/></a:{k}>' for k, v in colors.items()))
    font = '<a:latin typeface="Calibri"/><a:ea typeface=""/><a:cs typeface=""/>'
    fill = '<a:solidFill><a:schemeClr val="phClr"/></a:solidFill>'
    line = f'<a:ln w="9525">{fill}</a:ln>'
    effect = "<a:effectStyle><a:effectLst/></a:effectStyle>"
    return (f'{_XML}<a:theme xmlns:a="{_NS_A}" name="Bakery"><a:themeElements>'
            f'<a:clrScheme name="Bakery">{scheme}</a:clrScheme>'
            f'<a:fontScheme name="Bakery"><a:majorFont>{font}</a:majorFont><a:minorFont>{font}</a:minorFont>'
            f'</a:fontScheme><a:fmtScheme name="Bakery"><a:fillStyleLst>{fill * 3}</a:fillStyleLst>'
            f"<a:lnStyleLst>{line * 3}</a:lnStyleLst><a:effectStyleLst>{effect * 3}</a:effectStyleLst>"
            f"<a:bgFillStyleLst>{fill * 3}</a:bgFillStyleLst></a:fmtScheme></a:themeElements></a:theme>")


def _pptx() -> list[tuple[str, str]]:
    title = ('<p:sp><p:nvSpPr><p:cNvPr id="2" name="Title"/><p:cNvSpPr txBox="1"/><p:nvPr/></p:nvSpPr>'
             '<p:spPr><a:xfrm><a:off x="457200" y="2286000"/><a:ext cx="8229600" cy="1371600"/></a:xfrm>'
             '<a:prstGeom prst="rect"><a:avLst/></a:prstGeom></p:spPr><p:txBody><a:bodyPr/><a:lstStyle/>'
             '<a:p><a:r><a:rPr lang="en-US" sz="4000"/><a:t>Wedding cake tasting: three designs</a:t>'
             "</a:r></a:p></p:txBody></p:sp>")
    master_ids = ('<p:sldMasterIdLst><p:sldMasterId id="2147483648" r:id="rId1"/></p:sldMasterIdLst>'
                  '<p:sldIdLst><p:sldId id="256" r:id="rId2"/></p:sldIdLst>'
                  '<p:sldSz cx="9144000" cy="6858000" type="screen4x3"/>'
                  '<p:notesSz cx="6858000" cy="9144000"/>')
    overrides = {
        "ppt/presentation.xml": "presentationml.presentation.main+xml",
        "ppt/slideMasters/slideMaster1.xml": "presentationml.slideMaster+xml",
        "ppt/slideLayouts/slideLayout1.xml": "presentationml.slideLayout+xml",
        "ppt/slides/slide1.xml": "presentationml.slide+xml",
        "ppt/theme/theme1.xml": "theme+xml",
    }
    clr_ovr = "<p:clrMapOvr><a:masterClrMapping/></p:clrMapOvr>"
    return [
        ("[Content_Types].xml", _content_types(overrides)),
        ("_rels/.rels", _rels(("officeDocument", "ppt/presentation.xml"))),
        ("ppt/presentation.xml", f"{_XML}<p:presentation {_NS_ALL}>{master_ids}</p:presentation>"),
        ("ppt/_rels/presentation.xml.rels", _rels(
            ("slideMaster", "slideMasters/slideMaster1.xml"), ("slide", "slides/slide1.xml"),
            ("theme", "theme/theme1.xml"))),
        ("ppt/slideMasters/slideMaster1.xml",
         f"{_XML}<p:sldMaster {_NS_ALL}><p:cSld><p:spTree>{_EMPTY_TREE}</p:spTree></p:cSld>{_CLR_MAP}"
         '<p:sldLayoutIdLst><p:sldLayoutId id="2147483649" r:id="rId1"/></p:sldLayoutIdLst></p:sldMaster>'),
        ("ppt/slideMasters/_rels/slideMaster1.xml.rels", _rels(
            ("slideLayout", "../slideLayouts/slideLayout1.xml"), ("theme", "../theme/theme1.xml"))),
        ("ppt/slideLayouts/slideLayout1.xml",
         f'{_XML}<p:sldLayout {_NS_ALL} preserve="1"><p:cSld name="Blank"><p:spTree>{_EMPTY_TREE}'
         f"</p:spTree></p:cSld>{clr_ovr}</p:sldLayout>"),
        ("ppt/slideLayouts/_rels/slideLayout1.xml.rels",
         _rels(("slideMaster", "../slideMasters/slideMaster1.xml"))),
        ("ppt/slides/slide1.xml",
         f"{_XML}<p:sld {_NS_ALL}><p:cSld><p:spTree>{_EMPTY_TREE}{title}</p:spTree></p:cSld>"
         f"{clr_ovr}</p:sld>"),
        ("ppt/slides/_rels/slide1.xml.rels", _rels(("slideLayout", "../slideLayouts/slideLayout1.xml"))),
        ("ppt/theme/theme1.xml", _theme()),
    ]


MAIN_PARTS = {DOCX: _docx, XLSX: _xlsx, PPTX: _pptx}
"""OOXML MIME -> the builder of its parts, in the order sniffers expect."""


def document(mime: str, *, comment: bytes = b"") -> bytes:
    """The zip bytes of a small document of this OOXML type, with `comment` in the zip comment.

    Timestamps are fixed so the same comment always gives the same bytes (and sha256).
    """
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name, text in MAIN_PARTS[mime]():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            archive.writestr(info, text.encode(), compress_type=zipfile.ZIP_DEFLATED)
        archive.comment = comment
    return buf.getvalue()
