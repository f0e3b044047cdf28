"""Harvest: read each dataset's metadata over HTTP into a frozen ``Dataset``.

The metadata is untrusted, so it is parsed leniently into records here and
judged against the spec later (``validate``). Every problem becomes a message
on the record; nothing a host serves can make ``harvest_one`` raise. Harvest
reports what it found (``reached``, errors, warnings); the build driver
decides the status.

Round trips are the cost that matters (hosts are far away, documents small):

1. the group document (``zarr.json``, or ``.zattrs`` on a 404). A dataset the
   build state saw before is asked in its own format first; for the others,
   the format that worked is remembered per host and path prefix, so a Zarr
   v2 collection pays the extra probe once;
2. at the same time: every level's array document (real shapes, checked
   against each other: ``structure``), RO-Crate, and the ``labels`` group;
3. only when there are labels: each label image's document.

Requests grow with the levels only. Containers cost more: a plate reads a
sample of its wells (``--plate-wells``), one field image each, then the
first field's levels; a bioformats2raw container reads every series up to
``containers.SERIES_READ``. Consolidated metadata (v3, inline in
``zarr.json``) replaces every follow-up request it covers.

Time is bounded per dataset (a wall-clock budget) and for the whole stage (the
build's deadline); work is handed out host by host, so a host that hangs holds
a few workers, never all of them.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any, Callable, Mapping, Sequence

from generator.config import PLATE_WELLS
from generator.deadline import Deadline, get_task_end
from generator.fetch.http import Fetcher
from generator.harvest.containers import (
    get_plate_montage,
    read_more_series,
    resolve,
)
from generator.harvest.image import read_image
from generator.harvest.labels import find_labels_group, read_labels
from generator.harvest.parse import (
    OME_KEYS,
    GroupDoc,
    HarvestProblem,
    _kind,
)
from generator.harvest.reader import (
    RECHECK_ABSENT_ROCRATE,
    FormatMemory,
    Reader,
    optional,
)
from generator.harvest.record import make_record, parse_crate_facts
from generator.harvest.schedule import get_schedule
from generator.records import Dataset, Entry, Findings
from generator.sources.columns import (
    Listed,
    dataset_from_listing,
    get_endpoint,
    parse_listed,
)


async def harvest_one(
    entry: Entry,
    fetcher: Fetcher,
    *,
    thumb_size: int = 256,
    memory: FormatMemory | None = None,
    thumbnails: bool = True,
    known_format: int | None = None,
    plate_wells: int | None = PLATE_WELLS,
) -> Dataset:
    """Harvest one dataset. Never raises for dataset problems: they go into ``errors``.

    ``thumbnails`` False skips what only the thumbnail stage needs (a plate's
    montage); ``known_format`` is the Zarr format the build state saw the
    dataset in, if any; ``plate_wells`` how many of a plate's wells are read
    (None: all).
    """
    listed = parse_listed(entry.columns)
    fetcher.set_endpoint(entry.url, get_endpoint(entry))
    reader = Reader(entry.url, fetcher, memory if memory is not None else FormatMemory())
    try:
        try:
            root = await reader.root(known_format)
        except HarvestProblem as p:
            # No group at all: the listing's own kind and shape are not confirmed by anything.
            return _unread(entry, listed, p, array_facts=False)
        return await _harvest_group(
            entry, listed, reader, root, thumb_size=thumb_size, thumbnails=thumbnails, plate_wells=plate_wells
        )
    except HarvestProblem as p:
        return _unread(entry, listed, p)
    except (asyncio.CancelledError, KeyboardInterrupt):
        raise
    except Exception as e:  # last resort: a record, never a crashed build
        message = f"could not read the metadata: {type(e).__name__}: {e}"[:500]
        return dataset_from_listing(entry, listed).with_findings(Findings.error(message))


def _unread(entry: Entry, listed: Listed, problem: HarvestProblem, *, array_facts: bool = True) -> Dataset:
    """What the listing says about a dataset harvest could not read, with the reason."""
    record = dataset_from_listing(entry, listed, array_facts=array_facts)
    if problem.unreachable:
        record = replace(record, reached=False)
    elif problem.not_a_document:
        record = replace(record, not_a_document=problem.message)
    return record.with_findings(problem.found + Findings.error(problem.message))


def _check_ome(root: GroupDoc) -> None:
    """Raise unless the root group carries OME-NGFF metadata, saying what it has instead."""
    if root.zarr_format == 3 and not root.attrs.get("ome"):
        if any(k in root.attrs for k in OME_KEYS):
            raise HarvestProblem("no OME-NGFF metadata: zarr.json has no 'ome' attribute (its OME keys sit at the top level, as in OME-Zarr 0.4)")
        raise HarvestProblem("no OME-NGFF metadata: zarr.json has no 'ome' attribute")
    if root.zarr_format == 2 and not any(k in root.ome for k in OME_KEYS):
        if isinstance(root.attrs.get("attributes"), dict) and "ome" in root.attrs["attributes"]:
            raise HarvestProblem("no OME-NGFF metadata: .zattrs holds a Zarr v3 'attributes' object (zarr.json content in a Zarr v2 file)")
        raise HarvestProblem("no OME-NGFF metadata: .zattrs has none of " + ", ".join(repr(k) for k in OME_KEYS[:4]))


async def _read_rocrate(reader: Reader) -> Any:
    # The fetch is made inside the task: a task cancelled before it starts then leaves no coroutine unawaited.
    return await optional(reader.fetch("ro-crate-metadata.json", allow_missing=True, recheck_absent_after=RECHECK_ABSENT_ROCRATE))


async def _harvest_group(
    entry: Entry, listed: Listed, reader: Reader, root: GroupDoc, *, thumb_size: int, thumbnails: bool,
    plate_wells: int | None = PLATE_WELLS,
) -> Dataset:
    _check_ome(root)
    kind = _kind(root.ome)
    tasks: list[asyncio.Future[Any]] = []

    def start(coro: Any) -> asyncio.Future[Any]:
        tasks.append(asyncio.ensure_future(coro))
        return tasks[-1]

    rocrate_task = start(_read_rocrate(reader))
    # An image's labels group is asked for beside its levels: no round trip of its own.
    labels_task = start(find_labels_group(reader, "")) if kind == "image" else None
    try:
        resolved = await resolve(kind, reader, root, listed, plate_wells=plate_wells)
        if labels_task is None and (kind == "bioformats2raw" or reader.consolidated):
            labels_task = start(find_labels_group(reader, resolved.image.path))
        series_task = start(read_more_series(reader, resolved)) if kind == "bioformats2raw" else None
        try:
            image, found = await read_image(reader, resolved.image)
        except HarvestProblem as p:
            raise p.after(resolved.found) from None
        labels_group = await labels_task if labels_task is not None else None
        label_names, label_images, label_found = (
            await read_labels(reader, labels_group) if labels_group is not None else ((), (), Findings())
        )
        more_series, series_found = await series_task if series_task is not None else ((), Findings())
    except BaseException:
        # Out of time or a problem: the reads under way are not needed, and must not hold the dataset past its budget.
        for t in tasks:
            t.cancel()
        raise
    rocrate = await rocrate_task
    plate = resolved.plate
    if plate is not None and thumbnails:
        plate = await get_plate_montage(reader, plate, image.levels)
    if labels_group is not None:
        resolved = replace(resolved, labels=label_names)
    # Parsed as the group entered, before its attributes were bounded (see Reader._group).
    channels, channel_found = resolved.image.channels
    crate, crate_found = parse_crate_facts(rocrate)
    found = resolved.found + found + series_found + label_found + channel_found + crate_found
    record = make_record(entry, listed, root, kind, replace(resolved, plate=plate), (image, *more_series), crate, channels, found)
    return replace(record, label_images=label_images)


async def harvest(
    entries: Sequence[Entry],
    fetcher: Fetcher,
    *,
    thumb_size: int = 256,
    progress: Callable[[Dataset], None] | None = None,
    thumbnails: bool = True,
    known_formats: Mapping[str, int] | None = None,
    dataset_seconds: float | None = None,
    deadline: Deadline | None = None,
    plate_wells: int | None = PLATE_WELLS,
) -> list[Dataset]:
    """Harvest every entry; output order is entry order.

    ``known_formats`` maps a dataset URL to the Zarr format the build state
    saw it in. A fixed pool of workers takes entries host by host (see
    ``harvest.schedule``), so memory holds the records and a bounded number of
    in-flight documents, whatever the entry count. The fetcher's limits bound
    the requests; the pool is sized to keep them busy.

    Each dataset gets ``dataset_seconds`` of wall clock; past ``deadline`` no
    dataset is started and those under way are stopped. A dataset stopped or
    never reached is a record from its listing, not reached (so the build
    keeps its last good record as stale), saying why.
    """
    results: list[Dataset | None] = [None] * len(entries)
    memory = FormatMemory()
    known = known_formats or {}
    # Twice the host's request slots: enough datasets to keep them busy between round trips.
    schedule = get_schedule(entries, cap=max(1, 2 * fetcher.per_host))
    freed = asyncio.Event()

    async def worker() -> None:
        while deadline is None or not deadline.passed:
            taken = schedule.take()
            if taken is None:
                if not schedule.left:
                    return
                freed.clear()  # every host with work left is at its cap: wait for one to free
                await freed.wait()
                continue
            group, i = taken
            try:
                e = entries[i]
                ds = await _harvest_in_time(
                    e, fetcher, dataset_seconds, deadline,
                    thumb_size=thumb_size, memory=memory, thumbnails=thumbnails, known_format=known.get(e.url),
                    plate_wells=plate_wells,
                )
            finally:
                schedule.done(group)
                freed.set()
            results[i] = ds
            if progress is not None:
                progress(ds)

    n = max(1, min(len(entries), fetcher.concurrency * 2))
    await asyncio.gather(*(worker() for _ in range(n)))
    out = []
    for e, r in zip(entries, results):
        if r is None:  # the deadline passed before a worker reached it
            assert deadline is not None
            r = _out_of_time(e, f"not harvested: {deadline.describe()} passed before this dataset was reached")
            if progress is not None:
                progress(r)
        out.append(r)
    return out


async def _harvest_in_time(
    entry: Entry, fetcher: Fetcher, seconds: float | None, deadline: Deadline | None, **kw: Any
) -> Dataset:
    """``harvest_one`` within the dataset's budget and the build's deadline."""
    end = get_task_end(seconds, deadline)
    if end is None:
        return await harvest_one(entry, fetcher, **kw)
    try:
        async with asyncio.timeout_at(end.loop_time):
            return await harvest_one(entry, fetcher, **kw)
    except TimeoutError:
        if end.by_deadline and deadline is not None:
            why = f"harvest stopped at {deadline.describe()}"
        else:
            why = f"harvest stopped after {seconds:g} s (the per-dataset time budget, --dataset-seconds)"
        return _out_of_time(entry, why)


def _out_of_time(entry: Entry, why: str) -> Dataset:
    """A dataset time ran out for: its listing, not reached (host trouble tonight, asked again next build)."""
    problem = HarvestProblem(f"{why}; will retry next build", unreachable=True)
    return _unread(entry, parse_listed(entry.columns), problem, array_facts=False)
