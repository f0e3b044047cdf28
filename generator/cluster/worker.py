"""The function a worker runs: harvest a batch, validate it, draw its thumbnails.

The same code as the single-process build (``harvest``, ``validate``,
``make_thumbnails``) with a fetcher of the worker's own, its limits the
worker's share of the cluster's. The batch writes nothing shared: the
validators it learns and the thumbnails it draws come back in its
``BatchOutput`` and the driver stores them, so a batch run twice (after a
worker died) does no harm.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import tempfile
import time
from pathlib import Path
from typing import Iterable

from generator.build import make_fetcher
from generator.cluster.batches import BatchInput, BatchOutput, Validator, WorkerSettings
from generator.deadline import Deadline
from generator.harvest.dataset import harvest
from generator.history import decide_status
from generator.records import Dataset, Thumbnail
from generator.thumbnails.files import THUMB_DIR
from generator.thumbnails.key import get_thumbnail_key
from generator.thumbnails.make import make_thumbnails
from generator.validate import validate


class BatchValidators:
    """The state's validators for one batch's URLs, in memory; remembers what changed."""

    def __init__(self, validators: Iterable[Validator], absent: Iterable[tuple[str, float]]) -> None:
        self._docs = {url: (etag, modified, body) for url, etag, modified, body in validators}
        self._absent = dict(absent)
        self.learnt: dict[str, Validator] = {}
        self.marks: dict[str, bool] = {}

    def get_validators(self, url: str) -> tuple[str | None, str | None, bytes] | None:
        return self._docs.get(url)

    def put_validators(self, url: str, etag: str | None, last_modified: str | None, body: bytes) -> None:
        self._docs[url] = (etag, last_modified, body)
        self.learnt[url] = (url, etag, last_modified, body)

    def get_absent_since(self, url: str) -> float | None:
        return self._absent.get(url)

    def put_absent(self, url: str, present: bool) -> None:
        if present:
            self._absent.pop(url, None)
        else:
            self._absent[url] = time.time()
        self.marks[url] = present


def run_batch(batch: BatchInput, settings: WorkerSettings) -> BatchOutput:
    """The task: one event loop of its own, in the worker's thread."""
    return asyncio.run(run_batch_async(batch, settings))


def get_deadline(settings: WorkerSettings) -> Deadline | None:
    if settings.deadline_at is None:
        return None
    return Deadline(time.monotonic() + (settings.deadline_at - time.time()), settings.deadline_seconds or 0.0)


async def run_batch_async(batch: BatchInput, settings: WorkerSettings) -> BatchOutput:
    config = settings.config
    deadline = get_deadline(settings)
    store = BatchValidators(batch.validators, batch.absent)
    draw = config.thumbnails and not config.offline
    scratch = Path(tempfile.mkdtemp(prefix="ngff-catalog-batch-"))
    try:
        async with make_fetcher(config, store) as fetcher:  # type: ignore[arg-type]
            fetcher.breaker.tripped.update(batch.tripped)  # the cluster's breaker, as far as the driver knows it
            harvested = await harvest(
                batch.entries,
                fetcher,
                thumb_size=config.thumbnail.card_size,
                thumbnails=draw,
                known_formats=dict(batch.known_formats),
                dataset_seconds=config.dataset_seconds,
                deadline=deadline,
                plate_wells=config.plate_wells,
            )
            memo: dict = {}
            datasets = [d.with_findings(validate(d, memo=memo)) for d in harvested]
            if draw:
                datasets = await _draw(datasets, fetcher, scratch, batch, settings, deadline)
            stats = fetcher.stats
        return BatchOutput(
            index=batch.index,
            datasets=tuple(datasets),
            files=_read_files(datasets, scratch),
            validators=tuple(store.learnt.values()),
            absent=tuple(store.marks.items()),
            tripped=tuple(fetcher.breaker.tripped.items()),
            requests=stats.requests,
            not_modified=stats.not_modified,
            absent_remembered=stats.absent_remembered,
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


async def _draw(
    datasets: list[Dataset], fetcher, scratch: Path, batch: BatchInput, settings: WorkerSettings,  # type: ignore[no-untyped-def]
    deadline: Deadline | None,
) -> list[Dataset]:
    """Thumbnails as the single-process stage draws them, on records whose status is
    tonight's (history is the driver's: a record it turns stale keeps its old thumbnail).

    What comes back is the harvested record plus the thumbnail and its notes, so the
    driver's history merge sees what it sees in the single-process build.
    """
    tconfig = settings.config.thumbnail
    known = dict(batch.known_thumbnails)
    known_notes = dict(batch.known_notes)
    out: list[Dataset] = list(datasets)
    todo: list[int] = []
    for i, d in enumerate(datasets):
        status = decide_status(d)
        if status == "unreachable" or not d.resolutions:
            continue
        key = get_thumbnail_key(d, tconfig)
        if key is not None and key in known:
            notes = tuple(n for n in known_notes.get(key, ()) if n not in d.warnings)
            out[i] = dataclasses.replace(d, thumbnail=known[key], warnings=d.warnings + notes)  # drawn by an earlier build
        else:
            todo.append(i)
    shown = [dataclasses.replace(datasets[i], status=decide_status(datasets[i])) for i in todo]
    drawn = await make_thumbnails(shown, fetcher, scratch, tconfig, deadline=deadline)
    for i, d in zip(todo, drawn):
        notes = d.warnings[len(datasets[i].warnings) :]
        out[i] = dataclasses.replace(datasets[i], thumbnail=d.thumbnail, warnings=datasets[i].warnings + notes)
    return out


def _read_files(datasets: list[Dataset], scratch: Path) -> tuple[tuple[str, bytes], ...]:
    """The files this batch drew (not those it reused), by name under ``thumbnails/``."""
    files: dict[str, bytes] = {}
    for d in datasets:
        for rel in _thumbnail_files(d.thumbnail):
            path = scratch / rel
            if path.is_file():
                files[path.name] = path.read_bytes()
    # The notes drawing left (kept beside the renditions, so a later build that reuses them says the same).
    for path in sorted((scratch / THUMB_DIR).glob("*.notes.json")):
        files[path.name] = path.read_bytes()
    return tuple(files.items())


def _thumbnail_files(thumb: Thumbnail | None) -> list[str]:
    if thumb is None:
        return []
    return [rel for rel in (thumb.card, thumb.detail) if rel and rel.startswith(f"{THUMB_DIR}/")]
