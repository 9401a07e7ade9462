"""Writes the two tiny PDFs the tests read: text.pdf (one page with a text
layer) and scan.pdf (one page drawing only a rectangle: no text layer, as a
scan has none). Run with any python3: python3 make_pdfs.py"""

import pathlib


def pdf(content: bytes) -> bytes:
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


here = pathlib.Path(__file__).parent
(here / "text.pdf").write_bytes(pdf(b"BT /F1 12 Tf 20 150 Td (Sea otters hold hands while they sleep.) Tj ET"))
(here / "scan.pdf").write_bytes(pdf(b"0 0 1 rg 20 20 100 100 re f"))
