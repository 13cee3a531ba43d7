"""Extract one data interval from the CompraNet-like stage API and land the raw pages with a manifest.

Layout: ``raw/<source>/<key>/<stage>/page-00001.json`` (the bytes exactly as received) and
``raw/<source>/<key>/manifest.json`` (URL, time, sha256, records per page). Work in progress lives in
``raw/<source>/.partial-<key>/`` with a checkpoint after every page (one line appended to a journal), so a killed
run resumes at the next cursor; the finished folder replaces the previous landing of the interval in one rename.
Pages are streamed to disk as they come, so a window of any length lands in the memory of one page.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import logging
import shutil
import time
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
JOURNAL = "journal.jsonl"
PROGRESS_PAGES = 50  # pages between progress lines


def landing_dir(settings: Settings, interval: Interval) -> Path:
    """Return the folder where an interval's raw pages land."""
    return settings.data_root / "raw" / settings.source_name / interval.key


def _checkpoint(partial: Path) -> dict[str, Any]:
    """Read the whole-state checkpoint the OCDS publisher landing rewrites after every page."""
    path = partial / "checkpoint.json"
    return jsonio.read_json(path) if path.exists() else {"interval": None, "stages": {}, "pages": []}


class _Journal:
    """The checkpoint of a partial landing: one JSON line per landed page, appended, never rewritten.

    The first line names the interval; each later line holds one page's manifest entry and its stage's progress
    (cursor, pages, records) after it. Resuming replays the lines; a last line cut short by a kill is dropped, and
    its page is fetched again. Appending keeps the cost of a checkpoint flat however many pages came before.
    """

    def __init__(self, partial: Path, interval: Interval) -> None:
        self.path = partial / JOURNAL
        self.stages: dict[str, dict[str, Any]] = {}
        self.pages: list[dict[str, Any]] = []
        if not self._replay(str(interval)):  # a stale or foreign partial landing: start over
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir(parents=True)
            self.stages, self.pages = {}, []
            self.path.write_bytes(jsonio.dumps({"interval": str(interval)}) + b"\n")
        self.handle = open(self.path, "ab")  # noqa: SIM115 (closed in close())

    def _replay(self, interval: str) -> bool:
        """Load a journal of ``interval``; return False if there is none."""
        if not self.path.exists():
            return False
        lines = self.path.read_bytes().split(b"\n")
        if jsonio.loads(lines[0] or b"{}").get("interval") != interval:
            return False
        kept = len(lines[0]) + 1
        for number, line in enumerate(lines[1:], start=2):
            if not line:
                continue
            try:
                entry = jsonio.loads(line)
            except ValueError as exc:
                if number < len(lines):  # only the last line can be cut short by a kill
                    raise SourceError(f"{self.path}: line {number} is not JSON ({exc})") from exc
                log.warning("%s: dropping a page entry cut short by a kill; its page is fetched again", self.path)
                break
            self.pages.append(entry["page"])
            self.stages[entry["page"]["stage"]] = entry["progress"]
            kept += len(line) + 1
        with open(self.path, "r+b") as handle:
            handle.truncate(kept)
        return True

    def progress(self, stage: str) -> dict[str, Any]:
        """Return a stage's progress (a new one if the stage has not started)."""
        return self.stages.setdefault(stage, {"cursor": None, "pages": 0, "records": 0, "done": False})

    def add(self, page: dict[str, Any], progress: dict[str, Any]) -> None:
        """Record one landed page and its stage's progress after it."""
        self.pages.append(page)
        self.stages[page["stage"]] = progress
        self.handle.write(jsonio.dumps({"page": page, "progress": progress}) + b"\n")
        self.handle.flush()

    def close(self) -> None:
        """Close the journal file."""
        self.handle.close()


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
    journal = _Journal(partial, interval)
    own_client = client is None
    client = client or RetryingClient(timeout=settings.http_timeout, attempts=settings.http_retries)
    fetched_pages = 0
    started = time.perf_counter()
    try:
        for stage in stages:
            progress = journal.progress(stage)
            for page in _pages(client, settings, interval, stage, progress):
                number = progress["pages"] + 1
                relative = f"{stage}/page-{number:05d}.json"
                target = partial / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(page.body)
                records = len(page.data["data"])
                next_cursor = page.data["pagination"].get("next_cursor")
                progress.update(  # in place: the page generator reads the cursor from it
                    cursor=next_cursor,
                    pages=number,
                    records=progress["records"] + records,
                    total=page.data["pagination"]["total"],
                    done=next_cursor is None,
                )
                journal.add(
                    {
                        "stage": stage,
                        "path": relative,
                        "url": page.url,
                        "fetched_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                        "sha256": hashlib.sha256(page.body).hexdigest(),
                        "bytes": len(page.body),
                        "records": records,
                        "attempts": page.attempts,
                    },
                    dict(progress),
                )
                fetched_pages += 1
                if fetched_pages % PROGRESS_PAGES == 0 or progress["done"]:
                    _log_progress(interval, stage, progress, fetched_pages, started)
                if max_pages is not None and fetched_pages >= max_pages:
                    raise _Stopped
            if progress["records"] != progress.get("total", 0):
                raise SourceError(
                    f"{stage}: landed {progress['records']} records but the API announced {progress.get('total')}"
                )
    except _Stopped:
        return {"complete": False, "pages": fetched_pages}
    finally:
        journal.close()
        if own_client:
            client.close()

    manifest = {
        "source": settings.source_name,
        "base_url": settings.source_url,
        "interval": {"start": interval.start.isoformat(), "end": interval.end.isoformat(), "key": interval.key},
        "stages": {stage: journal.stages[stage]["records"] for stage in stages},
        "pages": journal.pages,
        "retries": client.retries,
    }
    jsonio.write_json(partial / "manifest.json", manifest)
    journal.path.unlink()
    _swap_in(partial, final)
    log.info("landed %s: %s", final, manifest["stages"])
    return {"complete": True, "path": str(final), "records": manifest["stages"], "retries": client.retries}


def _log_progress(interval: Interval, stage: str, progress: dict[str, Any], pages: int, started: float) -> None:
    seconds = time.perf_counter() - started
    log.info(
        "extract %s %s: %s of %s records, %s pages this run (%.0f pages a second)",
        interval.key,
        stage,
        f"{progress['records']:,}",
        f"{progress['total']:,}",
        f"{pages:,}",
        pages / seconds if seconds else 0.0,
    )


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
