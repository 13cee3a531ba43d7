"""Validate releases and packages against the official OCDS schema, with errors grouped by kind and path."""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema_rs

from transforms import jsonio, ranges
from transforms.errors import SemaforoError
from transforms.ocds.schema import CANONICAL_BASE, schema_resources
from transforms.settings import Settings

log = logging.getLogger(__name__)
EXAMPLES_PER_GROUP = 3


@dataclass(frozen=True)
class Example:
    """One error: the file (label), the document's number in it (its line in JSON Lines), where, and the message."""

    label: str
    number: int
    detail: str  # " (ocid) at /pointer", or "" when the document is not JSON
    message: str

    @property
    def where(self) -> str:
        """Name the document and the place, e.g. ``releases.jsonl#12 (ocds-x-1) at /date``."""
        return f"{self.label}#{self.number}{self.detail}"

    def to_dict(self) -> dict[str, str]:
        """Return the example as the report shows it."""
        return {"where": self.where, "message": self.message}


@dataclass
class ErrorGroup:
    """All errors of one kind at one path (array indexes folded to ``[]``)."""

    keyword: str
    path: str
    count: int = 0
    examples: list[Example] = field(default_factory=list)


@dataclass
class Report:
    """The outcome of validating a stream of documents."""

    documents: int = 0
    invalid_documents: int = 0
    groups: dict[tuple[str, str], ErrorGroup] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        """Total number of errors."""
        return sum(group.count for group in self.groups.values())

    @property
    def ok(self) -> bool:
        """True when no document has an error."""
        return not self.groups

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable report."""
        return {
            "documents": self.documents,
            "invalid_documents": self.invalid_documents,
            "errors": self.errors,
            "groups": [
                {
                    "keyword": g.keyword,
                    "path": g.path,
                    "count": g.count,
                    "examples": [example.to_dict() for example in g.examples],
                }
                for g in sorted(self.groups.values(), key=lambda g: (-g.count, g.path))
            ],
        }

    def merge(self, other: Report, offset: int = 0) -> None:
        """Add a later report's counts and examples (three per group at most), renumbering them by ``offset``.

        ``offset`` is the number of lines before the part of the file the other report covers.
        """
        self.documents += other.documents
        self.invalid_documents += other.invalid_documents
        for key, group in other.groups.items():
            mine = self.groups.setdefault(key, ErrorGroup(group.keyword, group.path))
            mine.count += group.count
            for example in group.examples[: EXAMPLES_PER_GROUP - len(mine.examples)]:
                mine.examples.append(dataclasses.replace(example, number=example.number + offset))

    def format(self) -> str:
        """Return a human-readable summary."""
        if self.ok:
            return f"{self.documents} document(s) valid"
        lines = [f"{self.invalid_documents} of {self.documents} document(s) invalid, {self.errors} error(s):"]
        for group in sorted(self.groups.values(), key=lambda g: (-g.count, g.path)):
            lines.append(f"  {group.keyword} at {group.path or '/'}: {group.count} time(s)")
            for example in group.examples:
                lines.append(f"    - {example.where}: {example.message}")
        return "\n".join(lines)


_INDEX = re.compile(r"/\d+(?=/|$)")


class Validator:
    """A compiled Draft 4 validator for one OCDS schema, resolving the official URLs offline."""

    def __init__(self, settings: Settings, name: str = "release-schema.json") -> None:
        resources = schema_resources(settings)
        schema = resources[CANONICAL_BASE + name]
        registry = jsonschema_rs.Registry(list(resources.items()))
        self._validator = jsonschema_rs.Draft4Validator(
            schema, validate_formats=True, registry=registry, base_uri=CANONICAL_BASE + name
        )

    def is_valid(self, document: Any) -> bool:
        """Whether the document is valid."""
        return bool(self._validator.is_valid(document))

    def errors(self, document: Any) -> Iterator[jsonschema_rs.ValidationError]:
        """Yield every error of one document."""
        yield from self._validator.iter_errors(document)

    def check(self, documents: Iterable[Any], report: Report | None = None, label: str = "", start: int = 1) -> Report:
        """Validate a stream of documents into a (possibly shared) report; ``start`` numbers the first one."""
        report = report or Report()
        for number, document in enumerate(documents, start=start):
            report.documents += 1
            if self._validator.is_valid(document):  # the fast path: no error objects built
                continue
            report.invalid_documents += 1
            for error in self._validator.iter_errors(document):
                pointer = "/" + "/".join(str(part) for part in error.instance_path)
                keyword = str(error.schema_path[-1]) if error.schema_path else "schema"
                folded = _INDEX.sub("/[]", pointer) if error.instance_path else ""
                group = report.groups.setdefault((keyword, folded), ErrorGroup(keyword, folded))
                group.count += 1
                if len(group.examples) < EXAMPLES_PER_GROUP:
                    ocid = document.get("ocid") if isinstance(document, dict) else None
                    detail = (f" ({ocid})" if ocid else "") + f" at {pointer}"
                    group.examples.append(Example(label, number, detail, error.message))
        return report


def detect_kind(document: Any) -> str:
    """Name the schema for a document: a release, a release package or a record package."""
    if isinstance(document, dict):
        if "records" in document:
            return "record-package-schema.json"
        if "releases" in document:
            return "release-package-schema.json"
    return "release-schema.json"


def iter_documents(path: Path) -> Iterator[Any]:
    """Yield the JSON documents of a file: one per line for JSON Lines, else the whole file."""
    name = path.name.removesuffix(".gz")
    if name.endswith((".jsonl", ".ndjson")):
        yield from jsonio.read_jsonl(path)
    else:
        yield jsonio.read_json(path)


PARALLEL_BYTES = 4_000_000  # below this, starting worker processes costs more than it saves
RANGES_PER_WORKER = 8  # byte ranges per worker and large file: a slow range holds up at most 1/8 of a worker's share


@dataclass(frozen=True)
class _Part:
    """A unit of work: a whole file (``start`` None) or the lines starting in one byte range of a plain file."""

    file: int  # the file's position in the command line
    path: Path
    start: int | None = None
    end: int = 0


_worker_settings: Settings | None = None
_worker_validators: dict[str, Validator] = {}


def _init_worker(settings: Settings) -> None:
    global _worker_settings
    _worker_settings = settings
    _worker_validators.clear()


def _validator(kind: str) -> Validator:
    validator = _worker_validators.get(kind)
    if validator is None:
        assert _worker_settings is not None
        validator = _worker_validators[kind] = Validator(_worker_settings, kind)
    return validator


def _not_json(report: Report, label: str, number: int, exc: ValueError) -> None:
    report.documents += 1
    report.invalid_documents += 1
    group = report.groups.setdefault(("json", ""), ErrorGroup("json", ""))
    group.count += 1
    if len(group.examples) < EXAMPLES_PER_GROUP:
        group.examples.append(Example(label, number, "", f"not JSON: {exc}"))


def _validate_lines(label: str, lines: Iterable[bytes]) -> tuple[Report, int]:
    """Validate JSON lines, numbering them from 1; return the report and the number of lines (blank ones too)."""
    report = Report()
    number = 0
    for number, line in enumerate(lines, start=1):
        try:
            document = jsonio.loads(line)
        except ValueError as exc:
            if line.strip():
                _not_json(report, label, number, exc)
            continue
        validator = _validator(detect_kind(document))
        if validator.is_valid(document):  # the fast path: no error objects, no report entry
            report.documents += 1
        else:
            validator.check([document], report, label=label, start=number)
    return report, number


def _validate_part(part: _Part) -> tuple[Report, int]:
    """Validate one part of a file (in a worker process); examples are numbered from the part's first line."""
    label = part.path.name
    if not part.path.name.removesuffix(".gz").endswith((".jsonl", ".ndjson")):
        with jsonio.open_read(part.path) as fh:
            return _validate_lines(label, [fh.read()])  # one JSON document: a package, or a single release
    if part.start is None:
        with jsonio.open_read(part.path) as fh:
            return _validate_lines(label, fh)
    return _validate_lines(label, ranges.read_lines(part.path, part.start, part.end))


def _parts(paths: Iterable[Path], workers: int) -> list[_Part]:
    """Cut plain JSON Lines files larger than PARALLEL_BYTES into byte ranges; other files are one part each."""
    parts: list[_Part] = []
    for file, path in enumerate(paths):
        if not path.is_file():
            raise SemaforoError(f"{path}: no such file")
        size = path.stat().st_size
        if workers > 1 and path.name.endswith((".jsonl", ".ndjson")) and size > PARALLEL_BYTES:
            parts.extend(
                _Part(file, path, start, end) for start, end in ranges.byte_ranges(size, RANGES_PER_WORKER * workers)
            )
        else:
            parts.append(_Part(file, path))
    return parts


def validate_files(settings: Settings, paths: Iterable[Path], workers: int | None = None) -> Report:
    """Validate every document of every file, choosing the schema per document.

    Large plain JSON Lines files are cut into byte ranges that worker processes read and validate on their own
    (parsing the JSON is most of the cost); gzip files and whole-file JSON documents are one part each. Parts are
    merged in file order, and examples are numbered by their line in the file, as a single pass would.
    """
    workers = workers or os.cpu_count() or 1
    parts = _parts(paths, workers)
    report = Report()
    lines_before = 0
    previous_file = -1

    def add(part: _Part, result: tuple[Report, int]) -> None:
        nonlocal lines_before, previous_file
        if part.file != previous_file:
            lines_before, previous_file = 0, part.file
        report.merge(result[0], offset=lines_before)
        lines_before += result[1]

    if workers > 1 and len(parts) > 1 and sum(part.path.stat().st_size for part in parts) > PARALLEL_BYTES:
        log.info("validating %d part(s) of %d file(s) on %d workers", len(parts), parts[-1].file + 1, workers)
        with multiprocessing.get_context("fork").Pool(workers, _init_worker, (settings,)) as pool:
            for part, result in zip(parts, pool.imap(_validate_part, parts, chunksize=1), strict=True):
                add(part, result)
    else:
        _init_worker(settings)
        for part in parts:
            add(part, _validate_part(part))
    log.info("validated %d document(s): %d invalid", report.documents, report.invalid_documents)
    return report
