"""Validate releases and packages against the official OCDS schema, with errors grouped by kind and path."""

from __future__ import annotations

import multiprocessing
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema_rs

from transforms import jsonio
from transforms.errors import SemaforoError
from transforms.ocds.schema import CANONICAL_BASE, schema_resources
from transforms.settings import Settings

EXAMPLES_PER_GROUP = 3


@dataclass
class ErrorGroup:
    """All errors of one kind at one path (array indexes folded to ``[]``)."""

    keyword: str
    path: str
    count: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)


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
                {"keyword": g.keyword, "path": g.path, "count": g.count, "examples": g.examples}
                for g in sorted(self.groups.values(), key=lambda g: (-g.count, g.path))
            ],
        }

    def merge(self, other: Report) -> None:
        """Add another report's counts and examples (examples keep their order, three per group at most)."""
        self.documents += other.documents
        self.invalid_documents += other.invalid_documents
        for key, group in other.groups.items():
            mine = self.groups.setdefault(key, ErrorGroup(group.keyword, group.path))
            mine.count += group.count
            mine.examples.extend(group.examples[: EXAMPLES_PER_GROUP - len(mine.examples)])

    def format(self) -> str:
        """Return a human-readable summary."""
        if self.ok:
            return f"{self.documents} document(s) valid"
        lines = [f"{self.invalid_documents} of {self.documents} document(s) invalid, {self.errors} error(s):"]
        for group in sorted(self.groups.values(), key=lambda g: (-g.count, g.path)):
            lines.append(f"  {group.keyword} at {group.path or '/'}: {group.count} time(s)")
            for example in group.examples:
                lines.append(f"    - {example['where']}: {example['message']}")
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
                    where = f"{label}#{number}" + (f" ({ocid})" if ocid else "") + f" at {pointer}"
                    group.examples.append({"where": where, "message": error.message})
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


CHUNK_LINES = 5_000
PARALLEL_BYTES = 4_000_000  # below this, starting worker processes costs more than it saves
_worker_settings: Settings | None = None
_worker_validators: dict[str, Validator] = {}


def _init_worker(settings: Settings) -> None:
    global _worker_settings
    _worker_settings = settings
    _worker_validators.clear()


def _validate_lines(task: tuple[str, int, list[bytes]]) -> Report:
    """Validate one chunk of JSON lines (in a worker process); number examples by their line in the file."""
    label, first, lines = task
    assert _worker_settings is not None
    report = Report()
    for number, line in enumerate(lines, start=first):
        if not line.strip():
            continue
        try:
            document = jsonio.loads(line)
        except ValueError as exc:
            report.documents += 1
            report.invalid_documents += 1
            group = report.groups.setdefault(("json", ""), ErrorGroup("json", ""))
            group.count += 1
            if len(group.examples) < EXAMPLES_PER_GROUP:
                group.examples.append({"where": f"{label}#{number}", "message": f"not JSON: {exc}"})
            continue
        kind = detect_kind(document)
        if kind not in _worker_validators:
            _worker_validators[kind] = Validator(_worker_settings, kind)
        _worker_validators[kind].check([document], report, label=label, start=number)
    return report


def _chunks(path: Path) -> Iterator[tuple[str, int, list[bytes]]]:
    with jsonio.open_read(path) as fh:
        first, lines = 1, []
        for number, line in enumerate(fh, start=1):
            lines.append(line)
            if len(lines) == CHUNK_LINES:
                yield path.name, first, lines
                first, lines = number + 1, []
        if lines:
            yield path.name, first, lines


def validate_files(settings: Settings, paths: Iterable[Path], workers: int | None = None) -> Report:
    """Validate every document of every file, choosing the schema per document.

    JSON Lines files are validated in chunks on every core (parsing the JSON is most of the cost); a whole-file
    JSON document is validated in this process.
    """
    report = Report()
    workers = workers or os.cpu_count() or 1
    pool = None
    try:
        for path in paths:
            if not path.is_file():
                raise SemaforoError(f"{path}: no such file")
            if not path.name.removesuffix(".gz").endswith((".jsonl", ".ndjson")):
                _init_worker(settings)
                with jsonio.open_read(path) as fh:
                    report.merge(_validate_lines((path.name, 1, [fh.read()])))
                continue
            if workers > 1 and path.stat().st_size > PARALLEL_BYTES:
                if pool is None:
                    pool = multiprocessing.get_context("fork").Pool(workers, _init_worker, (settings,))
                for part in pool.imap(_validate_lines, _chunks(path), chunksize=1):
                    report.merge(part)
            else:
                _init_worker(settings)
                for task in _chunks(path):
                    report.merge(_validate_lines(task))
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    return report
