"""History: what a dataset's past builds mean for tonight's record.

``decide_status`` is the one place a status is set: the build driver calls
it (through ``merge_with_history`` when there is a build state). A dataset
whose host is down tonight, or answers with something that is no Zarr
document at all (an HTML page, random bytes), comes back as ``stale`` with
its last good facts, until it has been failing longer than ``stale_days``.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

from generator.records import Dataset, Status

# Statuses whose record holds facts worth keeping when the host is down later.
GOOD_STATUSES = ("ok", "invalid")
LAST_OK_PREFIX = "last OK on "
KEPT_SUFFIX = "; kept the last good record of "


def parse_timestamp(value: str) -> datetime:
    """ISO 8601 (``Z`` or offset, or a bare date) -> aware UTC datetime."""
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def _without_last_ok(warnings: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(w for w in warnings if not w.startswith(LAST_OK_PREFIX))


def is_last_good(previous: Dataset | None) -> bool:
    """Whether a remembered record holds facts to fall back on while its host is down.

    A record made from an answer that was no Zarr document holds none, even
    though the state stores it like an invalid one.
    """
    return (
        previous is not None
        and bool(previous.last_ok)
        and previous.status in (*GOOD_STATUSES, "stale")
        and previous.not_a_document is None
    )


def decide_status(dataset: Dataset, previous: Dataset | None = None) -> Status:
    """The one place a dataset's status is decided (the build driver calls it).

    From what harvest reported (``reached``), the errors harvest and validate
    found, and the record the build state remembers: a dataset not reached
    tonight is ``stale`` while a good record of it is remembered.

    A host that answered with no Zarr document (``not_a_document``: an HTML
    page, random bytes, a JSON array) is at fault, not the dataset: a dataset
    good before is ``stale`` too. One never seen good is ``invalid``, not
    ``unreachable``: the host did answer, and a URL that never served a Zarr
    document is most likely a wrong URL (a viewer or landing page) for its
    submitter to fix, which the PR check must flag, not wait out.
    """
    if not dataset.reached:
        return "stale" if is_last_good(previous) else "unreachable"
    if dataset.not_a_document is not None and is_last_good(previous):
        return "stale"
    return "invalid" if dataset.errors else "ok"


def merge_with_history(
    current: Dataset, previous: Dataset | None, now: datetime, stale_days: int
) -> tuple[Dataset, bool]:
    """Combine tonight's harvest of a URL with what the state remembers.

    Returns (dataset, gone), with the status ``decide_status`` gives. The rules:

    - ok or invalid: the host answered. ``first_seen`` is kept from the
      previous record (else now) and ``last_ok`` becomes now: ``last_ok`` is
      the last time the dataset was *reached*, whether or not it validated,
      because both prove the URL serves that data. An answer that was no
      Zarr document proves nothing: its ``last_ok`` stays unset.
    - unreachable (after the fetcher's retries) with a previous good record:
      the previous facts (array facts, metadata, thumbnail) come back with
      status ``stale``, tonight's errors, and a warning "last OK on
      YYYY-MM-DD"; the listing provenance (source, collection, listings) is
      tonight's, because the CSVs are read fresh every build. If ``last_ok``
      is more than ``stale_days`` ago, ``gone`` is True: the build moves it
      from the catalog to the report.
    - no Zarr document (``not_a_document``) with a previous good record:
      stale as above, the error saying which record was kept ("...; kept the
      last good record of YYYY-MM-DD"). The state keeps storing that record.
    - unreachable and never good before: unchanged (keeps its first_seen).
    """
    now = now if now.tzinfo else now.replace(tzinfo=timezone.utc)
    now_iso = now.isoformat()
    first_seen = (previous.first_seen if previous else None) or current.first_seen or now_iso
    status = decide_status(current, previous)
    if status in GOOD_STATUSES:
        return dataclasses.replace(
            current,
            status=status,
            first_seen=first_seen,
            last_ok=None if current.not_a_document is not None else now_iso,
            warnings=_without_last_ok(current.warnings),
        ), False
    if status == "unreachable" or previous is None or previous.last_ok is None:
        return dataclasses.replace(current, status="unreachable", first_seen=first_seen, last_ok=None), False

    last_ok = previous.last_ok
    when = parse_timestamp(last_ok)
    day = when.date().isoformat()
    stale = dataclasses.replace(
        previous,
        url=current.url,
        source=current.source,
        collection=current.collection,
        listings=current.listings or previous.listings,
        status="stale",
        reached=False,
        errors=_with_kept_record(current, day),
        warnings=(*_without_last_ok(previous.warnings), f"{LAST_OK_PREFIX}{day}"),
        first_seen=first_seen,
        last_ok=last_ok,
    )
    return stale, now - when > timedelta(days=stale_days)


def _with_kept_record(current: Dataset, day: str) -> tuple[str, ...]:
    """Tonight's errors, the no-Zarr-document one saying which record stands in for the answer."""
    if current.not_a_document is None:
        return current.errors
    return tuple(f"{e}{KEPT_SUFFIX}{day}" if e == current.not_a_document else e for e in current.errors)
