"""``ngff-catalog build | check | publish | serve | demo``: the thin synchronous edge.

This is the only place that calls ``asyncio.run``; everything below it is
async library code. A build gathers inside the event loop and is written
out here, after the loop has closed (``write_build``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from generator import __version__
from generator.config import (
    DATASET_SECONDS,
    DEADLINE_SECONDS,
    PLATE_WELLS,
    THUMBNAIL_MAX_CHUNKS,
    THUMBNAIL_SECONDS,
    BuildConfig,
    SourceLimits,
    ThumbnailConfig,
    default_cache_dir,
    parse_github_env,
)
from generator.fetch.hosts import HOST_FAILURE_LIMIT

if TYPE_CHECKING:
    from generator.build import BuildResult
    from generator.progress import Progress


def _url_map(values: list[str]) -> tuple[tuple[str, str], ...]:
    pairs = []
    for v in values:
        prefix, sep, folder = v.partition("=")
        if not sep or not prefix or not folder:
            raise argparse.ArgumentTypeError(f"--map-url expects PREFIX=DIR, got {v!r}")
        pairs.append((prefix, folder))
    return tuple(pairs)


def _dask_target(value: str) -> str:
    from generator.cluster.batches import parse_dask_target

    try:
        parse_dask_target(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return value


def _size(text: str) -> int:
    from generator.site.budget import parse_size

    try:
        return parse_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def _verbosity(args: argparse.Namespace) -> int:
    return -1 if args.quiet else (1 if args.verbose else 0)


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-v", "--verbose", action="store_true", help="log every dataset")
    p.add_argument("-q", "--quiet", action="store_true", help="print errors only")
    p.add_argument("--concurrency", type=int, default=64, metavar="N", help="concurrent requests (default 64)")
    p.add_argument("--per-host", type=int, default=16, metavar="N", help="concurrent requests per host (default 16)")
    p.add_argument("--timeout", type=float, default=20.0, metavar="S", help="seconds per request (default 20)")
    p.add_argument(
        "--map-url", action="append", default=[], metavar="PREFIX=DIR",
        help="read CSV URLs starting with PREFIX from local DIR instead (repeatable)",
    )
    p.add_argument("--thumbnail-max-mb", type=int, default=64, help="chunk bytes read per thumbnail (default 64)")
    p.add_argument("--thumbnail-max-mpx", type=int, default=64, help="megapixels decoded per thumbnail (default 64)")
    p.add_argument(
        "--thumbnail-max-chunks", type=int, default=THUMBNAIL_MAX_CHUNKS, metavar="N",
        help=f"chunk requests per thumbnail, judged from the chunk grid before any (default {THUMBNAIL_MAX_CHUNKS})",
    )
    p.add_argument(
        "--thumbnail-seconds", type=float, default=THUMBNAIL_SECONDS, metavar="S",
        help=f"wall-clock seconds per thumbnail (default {THUMBNAIL_SECONDS:g})",
    )
    p.add_argument(
        "--dataset-seconds", type=float, default=DATASET_SECONDS, metavar="S",
        help=f"wall-clock seconds to harvest one dataset (default {DATASET_SECONDS:g})",
    )
    p.add_argument(
        "--host-failures", type=int, default=HOST_FAILURE_LIMIT, metavar="N",
        help=f"skip a host for the rest of the run after N consecutive failures (default {HOST_FAILURE_LIMIT}; 0: never)",
    )
    p.add_argument(
        "--allow-private-addresses", action="store_true",
        help="fetch from loopback, private and link-local addresses (local catalogs and tests; refused by default)",
    )
    p.add_argument(
        "--plate-wells", type=_plate_wells, default=PLATE_WELLS, metavar="N|all",
        help=f"wells of a plate whose documents are read, spread across it (default {PLATE_WELLS}; all: every well)",
    )


def _plate_wells(value: str) -> int | None:
    if value.strip().lower() == "all":
        return None
    try:
        return _positive(value)
    except argparse.ArgumentTypeError as e:  # the message names the other accepted value too
        raise argparse.ArgumentTypeError(f"{e}, or 'all'") from None


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ngff-catalog",
        description="Build a static catalog site of OME-Zarr datasets listed in submission CSVs.",
    )
    parser.add_argument("--version", action="version", version=f"ngff-catalog {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="harvest, validate and render the catalog site")
    b.add_argument("source", metavar="CSV_OR_URL", help="root submissions CSV (path or http(s) URL)")
    b.add_argument("--out", type=Path, required=True, metavar="DIR", help="output directory for the site")
    b.add_argument("--cache", type=Path, default=None, metavar="DIR", help=f"build state directory (default: one per root CSV under {default_cache_dir()})")
    b.add_argument("--no-cache", action="store_true", help="keep no build state")
    b.add_argument("--offline", action="store_true", help="fetch no dataset: build entries from CSV columns alone")
    b.add_argument("--no-thumbnails", action="store_true", help="skip thumbnail rendering")
    b.add_argument("--strict", action="store_true", help="exit 1 if any dataset is invalid or unreachable")
    b.add_argument("--resolve-terms", action="store_true", help="look up unknown ontology terms online (EBI OLS)")
    b.add_argument("--stale-days", type=int, default=30, metavar="N", help="days a failing dataset stays as stale (default 30)")
    b.add_argument(
        "--deadline", type=float, default=DEADLINE_SECONDS, metavar="SECONDS",
        help=f"stop harvesting and drawing after SECONDS and write the site from what was gathered (default {DEADLINE_SECONDS:g}; 0: none)",
    )
    b.add_argument("--title", default="OME-Zarr catalog", help="site title")
    b.add_argument("--site-url", default="", metavar="URL", help="public URL of the site, for absolute sitemap links")
    b.add_argument(
        "--dask", type=_dask_target, default=None, metavar="ADDRESS|local[:N]",
        help="harvest and draw on a Dask cluster: a scheduler address, or local[:N] for N local worker processes",
    )
    b.add_argument("--dask-batch", type=int, default=200, metavar="N", help="datasets per cluster task (default 200)")
    b.add_argument(
        "--max-rows", type=_positive, default=SourceLimits.items, metavar="N",
        help=f"listed rows (datasets and CSV links) read per build, over all CSVs (default {SourceLimits.items:,}); "
        "a catalog larger than that raises it",
    )
    b.add_argument(
        "--site-budget", type=_size, default=None, metavar="SIZE",
        help="bytes the site may take (1GB, 800MiB, bytes): exports are compressed, large thumbnails dropped, "
        "then cards shrunk to fit; exit 1 when it cannot (default: no limit)",
    )
    _add_common(b)

    c = sub.add_parser("check", help="check datasets or CSVs and print a verdict per dataset")
    c.add_argument("targets", nargs="*", metavar="URL|CSV", help="dataset URLs or submission CSVs")
    c.add_argument("--changed", metavar="BASE_REF", help="check only the CSV rows added or changed since BASE_REF (git)")
    c.add_argument("--out", type=Path, default=Path("check-output"), metavar="DIR", help="where thumbnails are written")
    c.add_argument("--summary", type=Path, metavar="FILE", help="append a Markdown verdict table (e.g. $GITHUB_STEP_SUMMARY)")
    c.add_argument("--no-thumbnails", action="store_true", help="skip the thumbnail check")
    _add_common(c)

    pub = sub.add_parser("publish", help="upload a built site to object storage or a folder (only what changed)")
    pub.add_argument("dir", type=Path, metavar="DIR", help="a site written by 'ngff-catalog build'")
    pub.add_argument("url", metavar="URL", help="s3://bucket/prefix, gs://bucket/prefix or a folder")
    pub.add_argument(
        "--endpoint", metavar="URL", default=None,
        help="S3-compatible service (default: $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL, else AWS)",
    )
    pub.add_argument("-v", "--verbose", action="store_true", help="list every file uploaded and deleted")

    s = sub.add_parser("serve", help="serve a built site locally")
    s.add_argument("dir", type=Path, metavar="DIR")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)

    d = sub.add_parser("demo", help="write sample OME-Zarr, serve it, build a catalog from it and serve that (no internet needed)")
    d.add_argument("--dir", type=Path, default=Path("ngff-catalog-demo"), metavar="DIR", help="working directory (default ./ngff-catalog-demo)")
    d.add_argument("--host", default="127.0.0.1")
    d.add_argument("--port", type=int, default=8000, help="port of the catalog site (default 8000)")
    d.add_argument("--no-serve", action="store_true", help="build, then exit instead of serving")
    d.add_argument("-q", "--quiet", action="store_true")
    d.add_argument("-v", "--verbose", action="store_true")
    return parser


def _common_settings(args: argparse.Namespace) -> dict[str, object]:
    """Settings that ``build`` and ``check`` share, from the options of ``_add_common``."""
    return {
        "thumbnails": not args.no_thumbnails,
        "concurrency": args.concurrency,
        "per_host": args.per_host,
        "timeout": args.timeout,
        "url_map": _url_map(args.map_url),
        "dataset_seconds": args.dataset_seconds,
        "host_failures": args.host_failures,
        "allow_private_addresses": args.allow_private_addresses,
        "thumbnail": ThumbnailConfig(
            max_bytes=args.thumbnail_max_mb * 1024 * 1024,
            max_pixels=args.thumbnail_max_mpx * 1024 * 1024,
            max_chunks=args.thumbnail_max_chunks,
            seconds=args.thumbnail_seconds,
        ),
        "verbose": _verbosity(args),
        "plate_wells": args.plate_wells,
    }


def run_build(config: BuildConfig, *, progress: Progress | None = None) -> BuildResult:
    """The whole build from the sync edge: gather in one event loop, then write the site
    outside it, holding the output folder and the cache throughout."""
    from generator.build import build, hold_build_locks
    from generator.progress import Progress
    from generator.write import write_build

    progress = progress or Progress(verbosity=config.verbose)
    with hold_build_locks(config):
        gathered = asyncio.run(build(config, progress=progress))
        return write_build(gathered, config, progress=progress)


def cmd_build(args: argparse.Namespace) -> int:
    from generator.build import InputError
    from generator.lock import LockError
    from generator.progress import Progress, format_summary
    from generator.site.budget import BudgetError
    from generator.state_schema import StateError

    config = BuildConfig(
        source=args.source,
        out=args.out,
        cache=None if args.no_cache else (args.cache or default_cache_dir(args.source)),
        offline=args.offline,
        strict=args.strict,
        resolve_terms=args.resolve_terms,
        stale_days=args.stale_days,
        deadline=args.deadline or None,
        site_title=args.title,
        site_url=args.site_url,
        github=parse_github_env(os.environ),
        dask=args.dask,
        dask_batch=args.dask_batch,
        **_common_settings(args),
        site_budget=args.site_budget,
        sources=SourceLimits(items=args.max_rows),
    )
    progress = Progress(verbosity=config.verbose)
    try:
        result = run_build(config, progress=progress)
    except (InputError, StateError, LockError) as e:
        # Unusable input, a state this version must not touch, or a folder
        # another build holds: a message, not a traceback.
        print(f"ngff-catalog: error: {e}", file=sys.stderr)
        return 2
    except BudgetError as e:
        # The previous site is untouched: the new one was never swapped in.
        print(f"ngff-catalog: error: {e}", file=sys.stderr)
        return 1
    if config.verbose >= 0:
        print(format_summary(result))
    failed = len(result.failed)
    if config.strict and failed:
        print(f"ngff-catalog: --strict: {failed} datasets failed (see {config.out / 'report.html'})", file=sys.stderr)
        return 1
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from generator.check import CheckOptions, run_check

    if not args.targets and not args.changed:
        print("ngff-catalog check: give URLs or CSVs, or --changed BASE_REF", file=sys.stderr)
        return 2
    options = CheckOptions(
        targets=tuple(args.targets),
        changed=args.changed,
        out=args.out,
        summary=args.summary,
        **_common_settings(args),
    )
    return asyncio.run(run_check(options))


def cmd_publish(args: argparse.Namespace) -> int:
    from generator.publish import PublishError, publish

    try:
        result = publish(args.dir, args.url, endpoint=args.endpoint)
    except PublishError as e:
        print(f"ngff-catalog publish: {e}", file=sys.stderr)
        return 2
    if args.verbose:
        for rel in result.uploaded:
            print(f"uploaded {rel}")
        for rel in result.deleted:
            print(f"deleted {rel}")
    print(result.describe() + f" -> {args.url}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from generator.dev.server import make_app

    if not (args.dir / "index.html").is_file():
        print(f"ngff-catalog serve: {args.dir} has no index.html (run 'ngff-catalog build' first)", file=sys.stderr)
        return 2
    print(f"Serving {args.dir} at http://{args.host}:{args.port}/ (Ctrl-C to stop)")
    web.run_app(make_app(args.dir.resolve(), cors=False), host=args.host, port=args.port, print=None)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from aiohttp import web

    from generator.dev.demo import write_demo_csvs, write_demo_data
    from generator.dev.server import BackgroundServer, make_app
    from generator.progress import Progress, format_summary

    work = args.dir.resolve()
    verbosity = _verbosity(args)
    print(f"Writing demo OME-Zarr datasets with zarr-python into {work / 'data'} ...")
    collections = write_demo_data(work / "data")
    # The data host: a separate local server, as an institution's would be.
    data_server = BackgroundServer(make_app(work / "data", cors=True)).start()
    try:
        csv = write_demo_csvs(work / "csv", data_server.url, collections)
        print(f"Data served at {data_server.url}; building the catalog from {csv} ...")
        # The demo's data host is this machine: private addresses are its point.
        config = BuildConfig(
            source=str(csv), out=work / "site", cache=work / "cache", verbose=verbosity, site_title="ngff-catalog demo",
            allow_private_addresses=True,
        )
        progress = Progress(verbosity=verbosity)
        result = run_build(config, progress=progress)
        if verbosity >= 0:
            print(format_summary(result))
        if args.no_serve:
            return 0
        print(f"\nCatalog: http://{args.host}:{args.port}/  (Ctrl-C to stop)")
        web.run_app(make_app(work / "site", cors=False), host=args.host, port=args.port, print=None)
        return 0
    finally:
        data_server.stop()


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    handlers = {"build": cmd_build, "check": cmd_check, "serve": cmd_serve, "demo": cmd_demo, "publish": cmd_publish}
    try:
        return handlers[args.command](args)
    except KeyboardInterrupt:
        return 130
