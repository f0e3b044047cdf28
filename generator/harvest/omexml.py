"""OME-XML (bioformats2raw METADATA.ome.xml): the series it lists, parsed with defusedxml, no DTD, bounded."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Mapping

from defusedxml import (
    DefusedXmlException,
    DTDForbidden,
    EntitiesForbidden,
    ExternalReferenceForbidden,
)
from defusedxml.ElementTree import DefusedXMLParser

from generator.harvest.parse import MAX_SERIES, HarvestProblem

MAX_XML_BYTES = 16 * 1024 * 1024


class _ImageCounter:
    """A parser target that counts the root's Image children and keeps nothing (no tree is built)."""

    def __init__(self) -> None:
        self.depth = 0
        self.images = 0

    def start(self, tag: str, attrib: Mapping[str, str]) -> None:
        self.depth += 1
        if self.depth == 2 and tag.rsplit("}", 1)[-1] == "Image":
            self.images += 1

    def end(self, tag: str) -> None:
        self.depth -= 1

    def data(self, text: str) -> None:
        pass

    def close(self) -> int:
        return self.images


def parse_ome_xml_series(body: bytes) -> tuple[str, ...]:
    """Series paths "0".."n-1" from the Image count of a bioformats2raw METADATA.ome.xml.

    Parsed with defusedxml: a DTD (and so any entity, the way XML bombs
    expand) is refused wherever it sits in the document. The body is fed in
    one piece (expat rescans a token split across feeds, quadratic for a
    15 MB comment) to a target that only counts, so memory stays bounded.
    """
    where = "OME/METADATA.ome.xml"
    if len(body) > MAX_XML_BYTES:
        raise HarvestProblem(f"{where}: {len(body)} bytes is more than the {MAX_XML_BYTES // (1024 * 1024)} MiB read; series not listed from it")
    parser = DefusedXMLParser(target=_ImageCounter(), forbid_dtd=True)
    try:
        parser.feed(body)
        count = parser.close()
    except (DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden):
        raise HarvestProblem(f"{where}: refused: the document has a DTD or entities (OME-XML needs neither; they are how XML bombs work)") from None
    except DefusedXmlException as e:
        raise HarvestProblem(f"{where}: refused: {type(e).__name__}") from None
    except ET.ParseError as e:
        raise HarvestProblem(f"{where}: invalid XML ({e})") from None
    return tuple(str(i) for i in range(min(count, MAX_SERIES)))
