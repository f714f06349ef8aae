"""Reading posters back as a person would: PDF pages rendered to images with pypdfium2 and
their QR codes read with zxing-cpp, text taken from the PDF, and an SVG poster's QR code
drawn from its own path and read the same way."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pypdfium2
import zxingcpp
from PIL import Image, ImageDraw

SVG_NS = "{http://www.w3.org/2000/svg}"
# Printers' resolution for a poster read by a phone held at arm's length: low enough that a
# code readable here is readable printed.
READ_DPI = 150


@contextmanager
def _pdf(body: bytes) -> Iterator[Any]:
    assert body.startswith(b"%PDF-"), body[:20]
    document = pypdfium2.PdfDocument(body)
    try:
        yield document
    finally:
        document.close()


def pdf_page_sizes(body: bytes) -> list[tuple[int, int]]:
    """Each page's width and height in whole points."""
    with _pdf(body) as document:
        return [tuple(round(n) for n in page.get_size()) for page in document]


def pdf_page_texts(body: bytes) -> list[str]:
    """Each page's text, its lines and spaces joined into single spaces."""
    with _pdf(body) as document:
        # pdfium marks a hyphen ending a line (as in a long address broken after one) with U+FFFE.
        texts = [page.get_textpage().get_text_range().replace("\ufffe", "-") for page in document]
        return [" ".join(text.split()) for text in texts]


def pdf_text(body: bytes) -> str:
    return " ".join(pdf_page_texts(body))


def pdf_qr_codes(body: bytes, *, dpi: int = READ_DPI) -> list[list[str]]:
    """What the QR codes on each page say, read from the page as printed at `dpi`."""
    found = []
    with _pdf(body) as document:
        for page in document:
            image = page.render(scale=dpi / 72).to_pil()
            found.append([result.text for result in zxingcpp.read_barcodes(image)])
    return found


def pdf_char_boxes(body: bytes) -> list[tuple[str, float, float, float, float]]:
    """(character, left, bottom, right, top) of every character drawn, in points."""
    boxes = []
    with _pdf(body) as document:
        for page in document:
            text = page.get_textpage()
            for index in range(text.count_chars()):
                char = text.get_text_range(index, 1)
                if char.strip():
                    boxes.append((char, *text.get_charbox(index)))
    return boxes


def svg_root(svg: str) -> ET.Element:
    return ET.fromstring(svg.encode())


def svg_text(svg: str) -> str:
    root = svg_root(svg)
    return " ".join(" ".join((element.text or "").split()) for element in root.iter(f"{SVG_NS}text"))


_RUN = re.compile(r"M(\d+) (\d+)h(\d+)v1h-(\d+)z")


def svg_qr_code(svg: str, *, pixels: int = 6) -> str:
    """The QR code in an SVG poster, read by drawing its path's runs of modules with Pillow
    (nothing else on the page is in that path), a quiet zone around it."""
    root = svg_root(svg)
    groups = [g for g in root.iter(f"{SVG_NS}g") if g.get("class") == "qr-code"]
    assert len(groups) == 1, f"{len(groups)} QR codes"
    (path,) = groups[0].iter(f"{SVG_NS}path")
    d = path.get("d", "")
    runs = [tuple(int(n) for n in match.groups()) for match in _RUN.finditer(d)]
    assert _RUN.sub("", d) == "", "the path holds something other than runs of modules"
    size = max(column + length for column, _, length, _ in runs)
    border = 4
    image = Image.new("L", ((size + 2 * border) * pixels,) * 2, 255)
    draw = ImageDraw.Draw(image)
    for column, row, length, back in runs:
        assert back == length
        x, y = (column + border) * pixels, (row + border) * pixels
        draw.rectangle([x, y, x + length * pixels - 1, y + pixels - 1], fill=0)
    results = zxingcpp.read_barcodes(image)
    assert len(results) == 1, "the SVG's QR code does not read"
    return results[0].text
