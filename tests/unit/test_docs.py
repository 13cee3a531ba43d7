"""Generated documentation is committed up to date, and the mapping table matches what the mappers produce."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from transforms.docs import PAGES
from transforms.ocds.mapping import FIELD_MAP, TAGS, to_releases
from transforms.sources.simulator import STAGES

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_committed_docs_are_current() -> None:
    for name, render in PAGES.items():
        assert (DOCS / name).read_text(encoding="utf-8") == render(), f"run `make docs`: docs/{name} is stale"


def _paths(obj: Any, prefix: str = "") -> set[str]:
    found: set[str] = set()
    if isinstance(obj, dict):
        for key, value in obj.items():
            path = f"{prefix}/{key}" if prefix else key
            found |= {path} | _paths(value, path)
    elif isinstance(obj, list):
        for value in obj:
            found |= _paths(value, prefix)
    return found


def test_every_documented_path_is_produced_by_its_stage(small_universe) -> None:  # type: ignore[no-untyped-def]
    produced: dict[str, set[str]] = {}
    tag_stage = {tag: stage for stage, tag in TAGS.items()}
    releases, _ = to_releases([(s, r) for s in STAGES for r in small_universe.records[s]], "ocds-x")
    for release in releases:
        produced.setdefault(tag_stage[release["tag"][0]], set()).update(_paths(release))
    for stage, _source, target, _rule in FIELD_MAP:
        for path in target.split("; "):
            path = re.sub(r"\[[a-zA-Z]+\]", "", path)
            stages = STAGES if stage == "*" else (stage,)
            assert any(path in produced.get(s, set()) for s in stages), f"{stage}: {path} is never produced"
