"""An offline build's records: made from the CSV columns, a span at a time, as the site is written."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any, Iterator

from generator.history import decide_status
from generator.records import Dataset, Entry, Term
from generator.sources.columns import dataset_from_entry
from generator.sources.spool import Entries
from generator.terms import label_term


class ListedDatasets:
    """An offline build's records, made from the entries' CSV columns as they are read
    back from disk (``spans()``, what the site writer takes); each pass makes them anew.
    They are labelled from the bundled term table and settled as the build
    driver's ``_label_terms`` and ``_settle`` do for records in memory."""

    def __init__(self, entries: Entries) -> None:
        self.entries = entries

    def __len__(self) -> int:
        return len(self.entries)

    def spans(self) -> Iterator[list[Dataset]]:
        labelled: dict[tuple[Term | None, str], Term | None] = {}

        def label(term: Term | None, kind: str) -> Term | None:
            key = (term, kind)
            if key not in labelled:
                labelled[key] = label_term(term, kind)  # type: ignore[arg-type]
            return labelled[key]

        def make(e: Entry) -> Dataset:
            d = dataset_from_entry(e)
            organism, modality = label(d.organism, "organism"), label(d.modality, "modality")
            if organism != d.organism or modality != d.modality:
                d = dataclasses.replace(d, organism=organism, modality=modality)
            status = decide_status(d)
            return d if d.status == status else dataclasses.replace(d, status=status)

        for span in self.entries.spans():
            yield [make(e) for e in span]

    def __iter__(self) -> Iterator[Dataset]:
        for span in self.spans():
            yield from span

    def __getitem__(self, index: int | slice) -> Any:
        # Made anew from the CSV columns: a look at a few records, not a way to walk them all.
        if isinstance(index, slice):
            return list(itertools.islice(self, index.start, index.stop, index.step))
        if index < 0:
            index += len(self)
        found = next(itertools.islice(self, index, None), None)
        if found is None:
            raise IndexError(index)
        return found
