"""The driver side of a cluster build: submit batches, retry, merge, store.

The build state (SQLite) stays here. Each batch is sent what the state
knows about its URLs (validators, recently absent documents, root formats,
thumbnails already drawn) and returns what it learnt; the driver writes
that into the state and the thumbnail files into the thumbnail store, so
the catalog and its files are those of the single-process build.

A worker that dies mid-batch loses only that batch's run: the scheduler
runs it again elsewhere (``retries`` covers errors raised in the task as
well), and a batch that still fails is run here, in the driver, so no
dataset is ever dropped. At most two batches per task slot are in flight,
so the driver holds a bounded amount of validators and results whatever
the catalog's size.
"""

from __future__ import annotations

import dataclasses
import os
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator, Sequence

from generator.cluster.batches import (
    BatchInput,
    BatchOutput,
    WorkerSettings,
    get_batches,
    get_local_workers,
    merge_outputs,
    parse_dask_target,
    split_limit,
)
from generator.cluster.worker import run_batch, run_batch_async
from generator.config import BuildConfig
from generator.deadline import Deadline
from generator.fetch.http import Fetcher
from generator.history import decide_status
from generator.progress import Progress
from generator.records import Dataset, Entry
from generator.state import State
from generator.thumbnails.files import THUMB_DIR, find_existing, read_notes

WORKER_WAIT = 120.0  # seconds to wait for an existing scheduler's first worker
IN_FLIGHT_PER_SLOT = 2  # batches queued per task slot: workers never idle between two


@asynccontextmanager
async def open_client(target_text: str) -> AsyncIterator[object]:
    """A client of the scheduler ``--dask`` names, or of a local cluster started for this build."""
    from distributed import Client, LocalCluster

    target = parse_dask_target(target_text)
    if target.local:
        async with LocalCluster(
            n_workers=get_local_workers(target), threads_per_worker=1, processes=True,
            host="127.0.0.1", dashboard_address=None, asynchronous=True,
        ) as cluster:
            async with Client(cluster, asynchronous=True) as client:
                yield client
        return
    async with Client(target.address, asynchronous=True) as client:
        await client.wait_for_workers(1, timeout=WORKER_WAIT)
        yield client


def get_settings(config: BuildConfig, slots: int, deadline: Deadline | None) -> WorkerSettings:
    """The settings each batch runs with: the request limits split between the task slots,
    so the whole cluster holds ``--per-host`` and ``--concurrency``."""
    share = dataclasses.replace(
        config, per_host=split_limit(config.per_host, slots), concurrency=split_limit(config.concurrency, slots)
    )
    if deadline is None:
        return WorkerSettings(share)
    return WorkerSettings(share, deadline_at=time.time() + (deadline.at - time.monotonic()), deadline_seconds=deadline.seconds)


def get_batch_input(
    index: int, entries: tuple[Entry, ...], state: State | None, thumb_root: Path | None, config: BuildConfig,
    tripped: tuple[tuple[str, str], ...] = (),
) -> BatchInput:
    """One batch, the servers skipped so far, and what the state knows about its URLs."""
    if state is None:
        return BatchInput(index, entries, tripped=tripped)
    urls = [e.url for e in entries]
    known = []
    notes = []
    for url in urls:
        key = state.get_thumbnail_key(url)
        found = find_existing(thumb_root, key, config.thumbnail) if key and thumb_root is not None else None
        if found is not None:
            known.append((key, found))
            if said := read_notes(thumb_root, key):  # type: ignore[arg-type]
                notes.append((key, said))
    return BatchInput(
        index,
        entries,
        validators=tuple(v for url in urls for v in state.get_validators_under(url)),
        absent=tuple(a for url in urls for a in state.get_absent_under(url)),
        known_formats=tuple(state.get_root_formats(urls).items()),
        known_thumbnails=tuple(known),
        known_notes=tuple(notes),
        tripped=tripped,
    )


def store_output(out: BatchOutput, state: State | None, thumb_root: Path | None, fetcher: Fetcher, card_size: int) -> int:
    """Write what a batch learnt into the state and its files into the store; the new card files."""
    if state is not None and (out.validators or out.absent):
        with state.transaction():
            for url, etag, modified, body in out.validators:
                state.put_validators(url, etag, modified, body)
            for url, present in out.absent:
                state.put_absent(url, present)
    # The driver's breaker gathers every batch's: later batches skip what any earlier one gave up on.
    for key, reason in out.tripped:
        fetcher.breaker.tripped.setdefault(key, reason)
    fetcher.stats.requests += out.requests
    fetcher.stats.not_modified += out.not_modified
    fetcher.stats.absent_remembered += out.absent_remembered
    if thumb_root is None:
        return 0
    folder = thumb_root / THUMB_DIR
    folder.mkdir(parents=True, exist_ok=True)
    cards = 0
    for name, data in out.files:
        path = folder / Path(name).name
        if path.is_file():
            continue  # names are content keys: the same image
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        # The card is the one file every drawn thumbnail has (the detail is optional).
        cards += name.rsplit(".", 1)[0].endswith(f"-{card_size}")
    return cards


async def gather_on_cluster(
    entries: Sequence[Entry], fetcher: Fetcher, state: State | None, thumb_root: Path | None,
    config: BuildConfig, progress: Progress, deadline: Deadline | None,
) -> tuple[list[Dataset], int]:
    """Harvest, validate and draw every entry on the cluster ``config.dask``: the records in
    entry order, each status not yet decided (as ``build._harvest`` returns them), and the
    number of thumbnails drawn."""
    async with open_client(config.dask or "local") as client:
        slots = sum((await client.nthreads()).values())  # type: ignore[attr-defined]
        settings = get_settings(config, slots, deadline)
        batches = get_batches(entries, config.dask_batch)
        progress.log(
            f"cluster: {len(entries)} datasets in {len(batches)} batches on {slots} task slots "
            f"({settings.config.per_host} requests per host each)"
        )
        outputs, rendered = await _run_batches(client, batches, slots, state, thumb_root, settings, fetcher, progress)
    return merge_outputs(outputs), rendered


async def _run_batches(
    client, batches: list[tuple[Entry, ...]], slots: int, state: State | None, thumb_root: Path | None,  # type: ignore[no-untyped-def]
    settings: WorkerSettings, fetcher: Fetcher, progress: Progress,
) -> tuple[list[BatchOutput], int]:
    from distributed import as_completed

    config = settings.config
    token = uuid.uuid4().hex[:8]
    inputs: dict[str, BatchInput] = {}
    todo = iter(enumerate(batches))
    queue = as_completed()

    def submit_next() -> None:
        item = next(todo, None)
        if item is None:
            return
        index, entries = item
        tripped = tuple(fetcher.breaker.tripped.items())
        batch = get_batch_input(index, entries, state, thumb_root, config, tripped)
        future = client.submit(
            run_batch, batch, settings, key=f"ngff-catalog-batch-{token}-{index}", retries=config.dask_retries, pure=False
        )
        inputs[future.key] = batch
        queue.add(future)

    for _ in range(IN_FLIGHT_PER_SLOT * max(1, slots)):
        submit_next()
    outputs: list[BatchOutput] = []
    rendered = 0
    progress.start("cluster", sum(len(b) for b in batches))
    async for future in queue:
        batch = inputs.pop(future.key)
        submit_next()
        try:
            out = await future
        except Exception as e:  # the scheduler gave up on it: a dataset is never dropped
            progress.log(f"cluster: batch {batch.index} failed on the cluster ({type(e).__name__}: {e}); running it here", level=-1)
            out = await run_batch_async(batch, settings)
        del future
        rendered += store_output(out, state, thumb_root, fetcher, config.thumbnail.card_size)
        outputs.append(out)
        for d in out.datasets:
            status = decide_status(d)
            progress.advance(status, f"{status} {d.url}")
        progress.log(f"cluster: batch {len(outputs)}/{len(batches)} done ({len(out.datasets)} datasets)", level=1)
    progress.finish()
    return outputs, rendered

