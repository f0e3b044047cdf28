"""Pure rules for object-store URLs (``s3://bucket/key``, ``gs://bucket/key``) and their endpoints.

A listed object URL stays as listed (``catalog.json`` keeps it, the Python
snippets use it); a browser cannot open it, so the site links to the public
HTTPS form ``get_public_url`` derives: virtual-hosted style on AWS, path
style on a custom S3-compatible endpoint, ``storage.googleapis.com`` for
Google Cloud Storage. Nothing here does I/O; ``get_env_endpoint`` is given
the environment rather than reading it.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Mapping
from urllib.parse import unquote, urlsplit

OBJECT_SCHEMES = ("s3", "gs")
# The standard variables the AWS tools read, most specific first.
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
AWS_HOST = "s3.amazonaws.com"
GCS_HOST = "storage.googleapis.com"

# S3: 3-63 lower-case letters, digits, dots and hyphens, starting and ending
# with a letter or digit. GCS also allows underscores, and names with dots of
# up to 222 characters (each dot-separated part at most 63).
_S3_BUCKET = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")
_GCS_BUCKET = re.compile(r"[a-z0-9][a-z0-9._\-]{1,220}[a-z0-9]")


class ObjectUrlError(ValueError):
    """An object URL or endpoint that cannot be read; the message is user-facing."""


@dataclass(frozen=True, slots=True)
class ObjectPath:
    """One object (or prefix) in a bucket: ``key`` is decoded, as the store names it."""

    scheme: str
    bucket: str
    key: str


def is_object_url(url: str) -> bool:
    return url[:5].lower() == "s3://" or url[:5].lower() == "gs://"


def get_bucket_problem(scheme: str, bucket: str) -> str | None:
    """Why ``bucket`` is not a bucket name of ``scheme``'s store, or None when it is one."""
    if not bucket:
        return "no bucket name"
    pattern = _S3_BUCKET if scheme == "s3" else _GCS_BUCKET
    rules = (
        "3-63 lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit"
        if scheme == "s3"
        else "3-63 lower-case letters, digits, dots, hyphens and underscores, starting and ending with a letter or digit"
    )
    if not pattern.fullmatch(bucket) or ".." in bucket or (scheme == "gs" and any(len(p) > 63 for p in bucket.split("."))):
        return f"{bucket!r} is not a valid bucket name ({rules})"
    try:
        ipaddress.ip_address(bucket)
    except ValueError:
        return None
    return f"{bucket!r} is not a valid bucket name (it is an IP address)"


def parse_object_path(url: str) -> ObjectPath:
    """The bucket and decoded key of a canonical object URL; raises ``ObjectUrlError``."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in OBJECT_SCHEMES:
        raise ObjectUrlError(f"not an object-store URL: {url!r}")
    bucket = parts.netloc
    problem = get_bucket_problem(scheme, bucket)
    if problem is not None:
        raise ObjectUrlError(f"{problem} in {url!r}")
    return ObjectPath(scheme, bucket, unquote(parts.path.lstrip("/")))


def is_aws_endpoint(endpoint: str | None) -> bool:
    if endpoint is None:
        return True
    host = (urlsplit(endpoint).hostname or "").lower()
    return host == AWS_HOST or (host.endswith(".amazonaws.com") and host.startswith("s3"))


def get_public_url(url: str, endpoint: str | None = None) -> str:
    """The HTTPS URL a browser opens for an object URL; an http(s) URL is returned as it is.

    ``url`` is canonical (its key percent-encoded, as the sources stage
    writes it), so the key is carried over without encoding it twice.
    """
    if not is_object_url(url):
        return url
    parts = urlsplit(url)
    scheme, bucket, path = parts.scheme.lower(), parts.netloc, parts.path
    if scheme == "gs":
        return f"https://{GCS_HOST}/{bucket}{path}"
    if is_aws_endpoint(endpoint):
        # A dotted bucket name breaks the wildcard certificate of virtual-hosted
        # HTTPS (a.b.s3.amazonaws.com): AWS serves those path style.
        if "." in bucket:
            return f"https://{AWS_HOST}/{bucket}{path}"
        return f"https://{bucket}.{AWS_HOST}{path}"
    assert endpoint is not None
    return f"{endpoint.rstrip('/')}/{bucket}{path}"


def get_env_endpoint(environ: Mapping[str, str]) -> tuple[str, str] | None:
    """The S3 endpoint the environment names: (variable, value), or None for AWS itself."""
    for name in ENDPOINT_VARIABLES:
        value = (environ.get(name) or "").strip()
        if value:
            return name, value
    return None
