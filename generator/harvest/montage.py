"""The plate montage's facts: each well's first field at its lowest level, harvested once.

The thumbnail stage draws a plate as a montage of its wells. Harvest reads
what that needs (the array document of every field's lowest level) so the
thumbnail stage reads chunks and nothing else.
"""

from __future__ import annotations

import asyncio
from typing import Sequence

from generator.harvest.parse import _join_path
from generator.harvest.reader import Reader
from generator.records import FieldImage, Level, Plate


async def get_montage(reader: Reader, plate: Plate, field_levels: Sequence[Level]) -> tuple[FieldImage, ...]:
    """One ``FieldImage`` per well's first field, in well order.

    Every field of a plate is assumed to have the first field's level paths,
    as the converters write them; a field whose document is missing is left
    out, the others still drawn.
    """
    if not field_levels or not plate.field_paths:
        return ()
    lowest = field_levels[-1].path
    known = field_levels[-1].metadata  # the first field's, when harvest read that level

    async def document(i: int, field: str) -> object:
        if i == 0 and known is not None:
            return known
        return await reader.array(_join_path(field, lowest))

    docs = await asyncio.gather(*(document(i, f) for i, f in enumerate(plate.field_paths)), return_exceptions=True)
    out = []
    for field, doc in zip(plate.field_paths, docs):
        if isinstance(doc, BaseException):
            if not isinstance(doc, Exception):
                raise doc  # cancellation, not a missing document
            continue
        if isinstance(doc, dict):
            out.append(FieldImage(path=field, level_path=lowest, metadata=doc))
    return tuple(out)
