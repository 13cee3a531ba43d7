"""Extract one data interval from the CompraNet-like stage API and land the raw pages with a manifest.

Layout: ``raw/<source>/<key>/<stage>/page-00001.json`` (the bytes exactly as received) and
``raw/<source>/<key>/manifest.json`` (URL, time, sha256, records per page). Work in progress lives in
``raw/<source>/.partial-<key>/`` with a checkpoint after every page, so a killed run resumes at the next cursor;
the finished folder replaces the previous landing of the interval in one rename.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import logging
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from transforms import jsonio
from transforms.errors import SourceError
from transforms.intervals import Interval
from transforms.settings import Settings
from transforms.sources.http import RetryingClient
from transforms.sources.simulator import STAGES

log = logging.getLogger(__name__)


def landing_dir(settings: Settings, interval: Interval) -> Path:
    """Return the folder where an interval's raw pages land."""
    return settings.data_root / "raw" / settings.source_name / interval.key


def _checkpoint(partial: Path) -> dict[str, Any]:
    path = partial / "checkpoint.json"
    return jsonio.read_json(path) if path.exists() else {"interval": None, "stages": {}, "pages": []}


@contextlib.contextmanager
def interval_lock(folder: Path, key: str) -> Iterator[None]:
    """Hold an exclusive lock on one interval's landing, so two runs of the same night never share a partial one."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f".lock-{key}", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def extract(
    settings: Settings,
    interval: Interval,
    *,
    stages: Sequence[str] = STAGES,
    client: RetryingClient | None = None,
    max_pages: int | None = None,
) -> dict[str, Any]:
    """Land every stage's records updated within ``interval``; return counts per stage.

    ``max_pages`` stops after that many pages (to test resuming); the landing then stays partial.
    """
    final = landing_dir(settings, interval)
    with interval_lock(final.parent, interval.key):
        return _extract(settings, interval, stages=stages, client=client, max_pages=max_pages)


def _extract(
    settings: Settings,
    interval: Interval,
    *,
    stages: Sequence[str] = STAGES,
    client: RetryingClient | None = None,
    max_pages: int | None = None,
) -> dict[str, Any]:
    """Land every stage's records updated within ``interval``; return counts per stage.

    ``max_pages`` stops after that many pages (to test resuming); the landing then stays partial.
    """
    unknown = sorted(set(stages) - set(STAGES))
    if unknown:
        raise SourceError(f"unknown stage(s) {', '.join(unknown)}; stages are {', '.join(STAGES)}")
    final = landing_dir(settings, interval)
    partial = final.with_name(f".partial-{interval.key}")
    state = _checkpoint(partial)
    if state["interval"] != str(interval):  # a stale or foreign partial landing: start over
        shutil.rmtree(partial, ignore_errors=True)
        state = {"interval": str(interval), "stages": {}, "pages": []}
    partial.mkdir(parents=True, exist_ok=True)
    own_client = client is None
    client = client or RetryingClient(timeout=settings.http_timeout, attempts=settings.http_retries)
    fetched_pages = 0
    try:
        for stage in stages:
            progress = state["stages"].setdefault(stage, {"cursor": None, "pages": 0, "records": 0, "done": False})
            for page in _pages(client, settings, interval, stage, progress):
                number = progress["pages"] + 1
                relative = f"{stage}/page-{number:05d}.json"
                target = partial / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(page.body)
                records = len(page.data["data"])
                state["pages"].append(
                    {
                        "stage": stage,
                        "path": relative,
                        "url": page.url,
                        "fetched_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                        "sha256": hashlib.sha256(page.body).hexdigest(),
                        "bytes": len(page.body),
                        "records": records,
                        "attempts": page.attempts,
                    }
                )
                next_cursor = page.data["pagination"].get("next_cursor")
                progress.update(
                    cursor=next_cursor,
                    pages=number,
                    records=progress["records"] + records,
                    total=page.data["pagination"]["total"],
                    done=next_cursor is None,
                )
                jsonio.write_json(partial / "checkpoint.json", state)
                fetched_pages += 1
                if max_pages is not None and fetched_pages >= max_pages:
                    raise _Stopped
            if progress["records"] != progress.get("total", 0):
                raise SourceError(
                    f"{stage}: landed {progress['records']} records but the API announced {progress.get('total')}"
                )
    except _Stopped:
        return {"complete": False, "pages": fetched_pages}
    finally:
        if own_client:
            client.close()

    manifest = {
        "source": settings.source_name,
        "base_url": settings.source_url,
        "interval": {"start": interval.start.isoformat(), "end": interval.end.isoformat(), "key": interval.key},
        "stages": {stage: state["stages"][stage]["records"] for stage in stages},
        "pages": state["pages"],
        "retries": client.retries,
    }
    jsonio.write_json(partial / "manifest.json", manifest)
    (partial / "checkpoint.json").unlink()
    _swap_in(partial, final)
    log.info("landed %s: %s", final, manifest["stages"])
    return {"complete": True, "path": str(final), "records": manifest["stages"], "retries": client.retries}


class _Stopped(Exception):
    pass


def _swap_in(partial: Path, final: Path) -> None:
    jsonio.swap_dir(partial, final)


def _pages(
    client: RetryingClient, settings: Settings, interval: Interval, stage: str, progress: dict[str, Any]
) -> Iterator[Any]:
    if progress["done"]:
        return
    params: dict[str, Any] = {
        "updated_since": interval.start.isoformat(),
        "updated_until": interval.end.isoformat(),
        "limit": settings.page_size,
    }
    url = f"{settings.source_url.rstrip('/')}/api/v1/{stage}"
    while True:
        if progress["cursor"]:
            params["cursor"] = progress["cursor"]
        page = client.get_json(url, params)
        if not isinstance(page.data, dict) or not isinstance(page.data.get("data"), list):
            raise SourceError(f"{url}: the answer has no 'data' list")
        yield page
        if not page.data["pagination"].get("next_cursor"):
            return


def read_landed(settings: Settings, interval: Interval) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``(stage, record)`` from an interval's landed pages, in manifest order."""
    folder = landing_dir(settings, interval)
    manifest_path = folder / "manifest.json"
    if not manifest_path.exists():
        raise SourceError(f"no landed data for {interval.key} in {folder}; run the extract step first")
    manifest = jsonio.read_json(manifest_path)
    for page in manifest["pages"]:
        body = (folder / page["path"]).read_bytes()
        if hashlib.sha256(body).hexdigest() != page["sha256"]:
            raise SourceError(f"{folder / page['path']} does not match its manifest checksum")
        for record in jsonio.loads(body)["data"]:
            yield page["stage"], record
