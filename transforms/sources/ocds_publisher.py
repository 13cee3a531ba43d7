"""Other Mexican OCDS publishers as sources, declared by configuration: land an interval's pages, read their releases.

A :class:`PublisherSource` says where a publisher's API is, what it publishes and how it pages (REFERENCE §5.5):

- ``page``: ``GET ?page=n&pageSize=k``, 1-based, the total at a JSON pointer (the federal ``api.datos.gob.mx`` style,
  ``{"pagination": {"page", "pageSize", "total"}, "results": [record packages]}``);
- ``offset``: ``GET ?offset=n&limit=k``, the total at a JSON pointer (QuiénEsQuién: ``/count``);
- ``post``: ``POST`` with the JSON body ``{"page": n, "pageSize": k}``, 0-based, items at a pointer such as ``/data``
  and the total at ``/pagination/total`` (PDN S6);
- ``links``: ``GET`` the URL, then follow ``links.next`` until there is none (the OCDS pagination extension).

Pages land the way :mod:`transforms.sources.compranet_api` lands the stage API: the bytes exactly as received in
``raw/<name>/<key>/pages/page-00001.json``, a ``manifest.json`` with URL, time, sha256 and items per page, a checkpoint
after every page in ``.partial-<key>/`` so that a killed run resumes where it stopped, and one rename that swaps the
finished landing in. When the publisher announces a total, the landed item count must match it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
import orjson

from transforms import jsonio
from transforms.errors import SourceError
from transforms.intervals import Interval
from transforms.settings import Settings
from transforms.sources.compranet_api import _checkpoint, _Stopped, _swap_in
from transforms.sources.http import RETRY_STATUSES, Fetched, RetryingClient, _retry_after

log = logging.getLogger(__name__)

Kind = Literal["record_package", "release_package"]
Paging = Literal["page", "offset", "post", "links"]
KINDS = ("record_package", "release_package")
PAGINGS = ("page", "offset", "post", "links")
PAGES = "pages"  # the one "stage" folder of a publisher landing


@dataclass(frozen=True)
class PublisherSource:
    """One OCDS publisher's API: what it publishes (``kind``), how it pages and where a page keeps its items.

    ``items`` points at the list in a page; each entry may be a package, a record or a release. When it is None the
    page is itself a package, so the list is its ``records`` or ``releases``. ``total`` points at the announced
    number of items (None: not announced). ``since_param``/``until_param`` name the date filter, sent in the query
    (in the JSON body for ``post``) with the interval's bounds. ``params`` are sent with every request.
    """

    name: str
    url: str
    kind: Kind
    paging: Paging
    page_size: int = 100
    items: str | None = None
    total: str | None = None
    next_link: str = "/links/next"
    page_param: str = "page"
    size_param: str = "pageSize"
    offset_param: str = "offset"
    limit_param: str = "limit"
    first_page: int | None = None
    since_param: str | None = None
    until_param: str | None = None
    params: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise SourceError(f"{self.name}: kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        if self.paging not in PAGINGS:
            raise SourceError(f"{self.name}: paging must be one of {', '.join(PAGINGS)}, not {self.paging!r}")
        if self.page_size < 1:
            raise SourceError(f"{self.name}: page_size must be at least 1")
        for pointer in (self.items, self.total, self.next_link):
            if pointer and not pointer.startswith("/"):
                raise SourceError(f"{self.name}: {pointer!r} is not a JSON pointer (RFC 6901 pointers start with /)")

    @property
    def items_pointer(self) -> str:
        """Return the pointer to a page's list of items."""
        if self.items is not None:
            return self.items
        return "/records" if self.kind == "record_package" else "/releases"

    @property
    def start(self) -> int:
        """Return the number of the first page or the first offset."""
        if self.first_page is not None:
            return self.first_page
        return 1 if self.paging == "page" else 0  # PDN S6 counts POSTed pages from 0


CONFIG = Path(__file__).resolve().parents[2] / "schemas" / "sources" / "publishers.json"
DAG_ONLY_KEYS = {"schedule"}  # read by the DAG factory, not by the source


def load_sources(path: Path | None = None) -> dict[str, PublisherSource]:
    """Read the configured publishers (``schemas/sources/publishers.json`` unless ``path`` names another file).

    PDN S6 (REFERENCE §5.5) is configured by default; the same base serves the state SESEAs through other
    ``supplier_id`` values, so each of them is one more entry.
    """
    config = path or CONFIG
    try:
        entries = jsonio.read_json(config)["publishers"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SourceError(f"{config}: cannot read the publishers list ({exc})") from exc
    sources = {}
    for entry in entries:
        try:
            source = PublisherSource(**{k: v for k, v in entry.items() if k not in DAG_ONLY_KEYS})
        except TypeError as exc:
            raise SourceError(f"{config}: publisher {entry.get('name')!r}: {exc}") from exc
        sources[source.name] = source
    return sources


# -- JSON pointers ----------------------------------------------------------------------------------------------
_MISSING = object()


def resolve(document: Any, pointer: str, default: Any = _MISSING) -> Any:
    """Return the value at an RFC 6901 JSON pointer; without a default, a missing value raises SourceError."""
    value = document
    for token in pointer.split("/")[1:] if pointer else []:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(value, dict) and token in value:
            value = value[token]
        elif isinstance(value, list) and token.isdigit() and int(token) < len(value):
            value = value[int(token)]
        elif default is not _MISSING:
            return default
        else:
            raise SourceError(f"the page has nothing at {pointer!r}")
    return value


# -- HTTP -------------------------------------------------------------------------------------------------------
def post_json(client: RetryingClient, url: str, body: Any, params: Mapping[str, Any] | None = None) -> Fetched:
    """POST a JSON body and parse the JSON answer, retrying transient failures as :meth:`RetryingClient.get_json`.

    Retrying a POST is safe here: the publishers' search endpoints only read.
    """
    problem = ""
    for attempt in range(client.attempts):
        hint = None
        try:
            response = client.client.post(url, params=dict(params or {}), json=body)
        except httpx.TransportError as exc:  # refused, reset, timed out, body cut short
            problem = f"{type(exc).__name__}: {exc}"
        else:
            if response.status_code == 200:
                try:
                    return Fetched(str(response.url), response.content, orjson.loads(response.content), attempt + 1)
                except orjson.JSONDecodeError as exc:
                    problem = f"invalid JSON ({exc})"
            elif response.status_code in RETRY_STATUSES:
                problem = f"HTTP {response.status_code}"
                hint = _retry_after(response)
            else:
                raise SourceError(f"POST {response.url} answered HTTP {response.status_code}: {response.text[:200]}")
        log.warning("POST %s failed (%s); attempt %d of %d", url, problem, attempt + 1, client.attempts)
        if attempt + 1 < client.attempts:
            client._wait(attempt, hint)
    raise SourceError(f"POST {url} failed after {client.attempts} attempts; last problem: {problem}")


def _filters(source: PublisherSource, interval: Interval) -> dict[str, str]:
    filters = {}
    if source.since_param:
        filters[source.since_param] = interval.start.isoformat()
    if source.until_param:
        filters[source.until_param] = interval.end.isoformat()
    return filters


def _request(
    client: RetryingClient, source: PublisherSource, interval: Interval, cursor: Any
) -> tuple[Fetched, dict[str, Any] | None]:
    """Fetch the page at ``cursor`` (a page number, an offset or a next link); return it and the POSTed body."""
    params: dict[str, Any] = {**source.params}
    if source.paging == "post":
        body = {source.page_param: cursor, source.size_param: source.page_size, **_filters(source, interval)}
        return post_json(client, source.url, body, params), body
    if source.paging == "links" and cursor is not None:
        return client.get_json(cursor), None  # a next link carries its own query
    params.update(_filters(source, interval))
    if source.paging == "page":
        params.update({source.page_param: cursor, source.size_param: source.page_size})
    elif source.paging == "offset":
        params.update({source.offset_param: cursor, source.limit_param: source.page_size})
    return client.get_json(source.url, params), None


# -- landing ----------------------------------------------------------------------------------------------------
def landing_dir(settings: Settings, source: PublisherSource, interval: Interval) -> Path:
    """Return the folder where a publisher's pages for an interval land."""
    return settings.data_root / "raw" / source.name / interval.key


def fetch(
    source: PublisherSource,
    settings: Settings,
    interval: Interval,
    client: RetryingClient | None = None,
    *,
    max_pages: int | None = None,
) -> dict[str, Any]:
    """Land every page of a publisher for an interval; return what was landed.

    ``max_pages`` stops after that many pages (to test resuming); the landing then stays partial.
    """
    final = landing_dir(settings, source, interval)
    partial = final.with_name(f".partial-{interval.key}")
    state = _checkpoint(partial)
    if state["interval"] != str(interval) or state.get("source") != source.url:  # stale or foreign: start over
        shutil.rmtree(partial, ignore_errors=True)
        cursor = None if source.paging == "links" else source.start
        progress: dict[str, Any] = {"cursor": cursor, "items": 0, "total": None, "done": False, "seen": []}
        state = {"interval": str(interval), "source": source.url, "stages": {PAGES: progress}, "pages": []}
    progress = state["stages"][PAGES]
    partial.mkdir(parents=True, exist_ok=True)
    own_client = client is None
    client = client or RetryingClient(timeout=settings.http_timeout, attempts=settings.http_retries)
    fetched = 0
    try:
        while not progress["done"]:
            page, body = _request(client, source, interval, progress["cursor"])
            items = resolve(page.data, source.items_pointer)
            if not isinstance(items, list):
                raise SourceError(f"{page.url}: {source.items_pointer} is not a list")
            number = len(state["pages"]) + 1
            relative = f"{PAGES}/page-{number:05d}.json"
            (partial / PAGES).mkdir(exist_ok=True)
            (partial / relative).write_bytes(page.body)
            state["pages"].append(
                {
                    "path": relative,
                    "url": page.url,
                    "method": "POST" if body is not None else "GET",
                    **({"body": body} if body is not None else {}),
                    "fetched_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    "sha256": hashlib.sha256(page.body).hexdigest(),
                    "bytes": len(page.body),
                    "items": len(items),
                    "attempts": page.attempts,
                }
            )
            progress["items"] += len(items)
            if source.total is not None:
                progress["total"] = int(resolve(page.data, source.total))
            progress["cursor"], progress["done"] = _advance(source, page, progress, len(items))
            jsonio.write_json(partial / "checkpoint.json", state)
            fetched += 1
            if max_pages is not None and fetched >= max_pages and not progress["done"]:
                raise _Stopped
    except _Stopped:
        return {"complete": False, "pages": fetched}
    finally:
        if own_client:
            client.close()

    if progress["total"] is not None and progress["items"] != progress["total"]:
        raise SourceError(
            f"{source.name}: landed {progress['items']} items but the publisher announced {progress['total']}"
        )
    manifest = {
        "source": source.name,
        "url": source.url,
        "kind": source.kind,
        "paging": source.paging,
        "items_pointer": source.items_pointer,
        "interval": {"start": interval.start.isoformat(), "end": interval.end.isoformat(), "key": interval.key},
        "items": progress["items"],
        "total": progress["total"],
        "pages": state["pages"],
        "retries": client.retries,
    }
    jsonio.write_json(partial / "manifest.json", manifest)
    (partial / "checkpoint.json").unlink()
    _swap_in(partial, final)
    log.info("landed %s: %d items in %d pages", final, progress["items"], len(state["pages"]))
    return {"complete": True, "path": str(final), "items": progress["items"], "pages": len(state["pages"])}


def _advance(source: PublisherSource, page: Fetched, progress: dict[str, Any], count: int) -> tuple[Any, bool]:
    """Return the next cursor and whether the last page has been landed."""
    if source.paging == "links":
        link = resolve(page.data, source.next_link, None)
        progress["seen"].append(page.url)
        if link and link in progress["seen"]:
            raise SourceError(f"{page.url}: links.next leads back to {link}, an already landed page")
        return link, not link
    total = progress["total"]
    # An announced total ends the walk exactly; without one, a short or empty page is the last.
    done = count == 0 or (progress["items"] >= total if total is not None else count < source.page_size)
    step = count if source.paging == "offset" else 1  # an offset moves by what the server really returned
    return progress["cursor"] + step, done


# -- reading ----------------------------------------------------------------------------------------------------
def _is_linked(release: Any) -> bool:
    # A linked release (record package schema) names a URL, date and tag instead of carrying the release.
    return isinstance(release, dict) and "url" in release and "id" not in release


def releases_of(kind: Kind, item: Any) -> Iterator[dict[str, Any]]:
    """Yield the releases in one landed item: a record or release package, a record, or a release.

    A record that embeds its releases yields them, and not its ``compiledRelease``, which is derived from them. A
    record whose ``releases`` are only links (``url``, ``date``, ``tag``) or empty yields its ``compiledRelease``
    instead (tagged ``compiled``); a record with neither raises :class:`SourceError` rather than lose the process.
    """
    if not isinstance(item, dict):
        raise SourceError(f"expected a JSON object, found {type(item).__name__}")
    if kind == "record_package":
        for record in item.get("records", [item]):
            releases = record.get("releases") or []
            if releases and not any(_is_linked(release) for release in releases):
                yield from releases
            elif "compiledRelease" in record:
                yield record["compiledRelease"]
            else:
                raise SourceError(
                    f"record {record.get('ocid')!r} only links its releases and has no compiledRelease; "
                    "fetch the linked release packages instead"
                )
    elif "releases" in item and "ocid" not in item:
        yield from item["releases"]
    else:
        yield item


def iter_releases(settings: Settings, source: PublisherSource, interval: Interval) -> Iterator[dict[str, Any]]:
    """Yield the releases of an interval's landed pages, in manifest order, checking each page's checksum.

    Records yield their embedded releases, or their ``compiledRelease`` when they only link their releases (see
    :func:`releases_of`); packages yield their releases; bare releases are yielded as they are.
    """
    folder = landing_dir(settings, source, interval)
    manifest_path = folder / "manifest.json"
    if not manifest_path.exists():
        raise SourceError(f"no landed {source.name} data for {interval.key} in {folder}; run fetch first")
    manifest = jsonio.read_json(manifest_path)
    for page in manifest["pages"]:
        body = (folder / page["path"]).read_bytes()
        if hashlib.sha256(body).hexdigest() != page["sha256"]:
            raise SourceError(f"{folder / page['path']} does not match its manifest checksum")
        for item in resolve(jsonio.loads(body), manifest["items_pointer"]):
            yield from releases_of(source.kind, item)
