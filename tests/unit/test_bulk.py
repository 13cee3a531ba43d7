"""The bounded-memory, multi-core compile gives exactly the in-memory compile, whatever the batch boundaries."""

from __future__ import annotations

import io

import orjson
import pytest

from transforms.ocds import bulk
from transforms.ocds.compile import compile_releases
from transforms.ocds.mapping import to_releases
from transforms.ocds.schema import release_schema
from transforms.sources.simulator import STAGES


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("versioned", [False, True])
def test_bulk_equals_in_memory(settings, small_universe, monkeypatch, workers: int, versioned: bool) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(bulk, "SPILL_BATCH", 97)  # batches and chunks end in the middle of ocids
    monkeypatch.setattr(bulk, "CHUNK_RELEASES", 61)
    releases, _ = to_releases([(s, r) for s in STAGES for r in small_universe.records[s][:300]], "ocds-x")
    schema = release_schema(settings)
    lines = [orjson.dumps(r) + b"\n" for r in releases]
    # A release package on one line is unpacked too.
    lines.append(orjson.dumps({"uri": "u", "releases": releases[:5]}) + b"\n")
    expected = b"".join(
        orjson.dumps(c) + b"\n" for c in compile_releases(releases + releases[:5], schema, versioned=versioned)
    )
    out = io.BytesIO()
    counts = bulk.compile_to(bulk.release_items(lines), schema, out, versioned=versioned, workers=workers)
    assert out.getvalue() == expected
    assert counts == {"releases": len(releases) + 5, "ocids": len({r["ocid"] for r in releases})}


def test_ocid_is_read_without_parsing_only_when_unambiguous() -> None:
    plain = b'{"ocid":"ocds-x-1","id":"1"}'
    tricky = b'{"id":"1","description":"say \\"ocid\\": \\"no\\"","ocid":"ocds-x-2"}'
    nested = b'{"ocid":"ocds-x-3","ext":{"ocid":"ocds-x-9"}}'
    assert [ocid for ocid, _ in bulk.release_items([plain, tricky, nested])] == ["ocds-x-1", "ocds-x-2", "ocds-x-3"]
    with pytest.raises(ValueError, match="no string ocid"):
        list(bulk.release_items([b'{"id": "1"}']))
