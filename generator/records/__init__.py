"""Frozen records passed between the pipeline's stages.

Each stage takes records and returns new ones; nothing is mutated along the
way (use ``dataclasses.replace``). ``to_dict`` gives the JSON shape written to
``catalog.json``; ``from_dict`` reads it back (the build cache stores records
that way). Mappings inside records are read-only (``readonly.ReadOnlyDict``).

- ``listing``: where a dataset was listed (``Listing``, ``Entry``, ``RowError``);
- ``array``: what its arrays are (``Axis``, ``Channel``, ``Level``, ``Plate``,
  ``FieldImage``, ``LabelImage``, ``Term``, ``Thumbnail``);
- ``dataset``: what the build found (``Findings``, ``Documents``, ``Dataset``,
  ``Catalog``).
"""

from generator.records.array import (
    Axis,
    Channel,
    FieldImage,
    LabelColor,
    LabelImage,
    Level,
    Plate,
    Term,
    Thumbnail,
)
from generator.records.dataset import (
    KINDS,
    STATUSES,
    Catalog,
    Dataset,
    Documents,
    Findings,
    Kind,
    Status,
)
from generator.records.listing import Entry, Listing, RowError, get_dataset_id

__all__ = [
    "KINDS",
    "STATUSES",
    "Axis",
    "Catalog",
    "Channel",
    "Dataset",
    "Documents",
    "Entry",
    "FieldImage",
    "Findings",
    "Kind",
    "LabelColor",
    "LabelImage",
    "Level",
    "Listing",
    "Plate",
    "RowError",
    "Status",
    "Term",
    "Thumbnail",
    "get_dataset_id",
]
