"""The bounded-memory, multi-core compile gives exactly the in-memory compile, whatever the cuts and buckets."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import orjson
import pytest

from transforms import jsonio
from transforms.errors import SemaforoError
from transforms.ocds import bulk
from transforms.ocds.compile import compile_releases
from transforms.ocds.mapping import to_releases
from transforms.ocds.schema import release_schema
from transforms.sources.simulator import STAGES


@pytest.fixture
def releases(small_universe) -> list[dict]:  # type: ignore[no-untyped-def]
    return to_releases([(s, r) for s in STAGES for r in small_universe.records[s][:300]], "ocds-x")[0]


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cut files into many small ranges and buckets, and flush spill buffers often."""
    monkeypatch.setattr(bulk, "RANGES_PER_WORKER", 7)  # ranges end in the middle of lines
    monkeypatch.setattr(bulk, "BUCKETS_PER_WORKER", 5)
    monkeypatch.setattr(bulk, "PARTITION_BUFFER", 5_000)
    monkeypatch.setattr(bulk, "WRITE_BUFFER", 3_000)


def _expected(releases: list[dict], schema: dict, versioned: bool) -> bytes:
    return b"".join(orjson.dumps(c) + b"\n" for c in compile_releases(releases, schema, versioned=versioned))


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("versioned", [False, True])
def test_items_compile_as_in_memory(settings, releases, small_parts, workers: int, versioned: bool) -> None:  # type: ignore[no-untyped-def]
    schema = release_schema(settings)
    lines = [orjson.dumps(r) + b"\n" for r in releases]
    # A release package on one line is unpacked too.
    lines.append(orjson.dumps({"uri": "u", "releases": releases[:5]}) + b"\n")
    out = io.BytesIO()
    counts = bulk.compile_to(bulk.release_items(lines), schema, out, versioned=versioned, workers=workers)
    assert out.getvalue() == _expected(releases + releases[:5], schema, versioned)
    assert counts == {"releases": len(releases) + 5, "ocids": len({r["ocid"] for r in releases})}


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_files_compile_as_in_memory_whatever_the_ranges(
    settings, releases, small_parts, tmp_path: Path, workers: int
) -> None:  # type: ignore[no-untyped-def]
    schema = release_schema(settings)
    third = len(releases) // 3
    # Plain JSON Lines with CRLF line ends, blank lines and no final line end; then gzip; then a package document.
    plain = b"\r\n".join(orjson.dumps(r) for r in releases[:third]).replace(b"}\r\n", b"}\r\n\n", 3)
    (tmp_path / "a.jsonl").write_bytes(plain)
    jsonio.write_jsonl(tmp_path / "b.jsonl.gz", releases[third : 2 * third])
    jsonio.write_json(tmp_path / "c.json", {"uri": "u", "releases": releases[2 * third :]})
    paths = [tmp_path / "a.jsonl", tmp_path / "b.jsonl.gz", tmp_path / "c.json"]
    out = io.BytesIO()
    counts = bulk.compile_files(paths, schema, out, workers=workers, spill_dir=tmp_path)
    assert out.getvalue() == _expected(releases, schema, versioned=False)
    assert counts["releases"] == len(releases)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("semaforo-compile-")] == []  # spill removed


def test_ocids_order_as_ocdskit_orders_them(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Escaped, non-ASCII and prefix ocids: SQLite (ocdskit) orders by UTF-8 bytes, not by their JSON text.
    ocids = ["ab", "ab!", "ab ", 'a"b', "a\\b", "é", "z", "a\tb", "ab\u2028"]
    path = tmp_path / "r.jsonl"
    jsonio.write_jsonl(path, [{"ocid": o, "id": "1", "date": "2026-01-01T00:00:00Z"} for o in ocids])
    out = io.BytesIO()
    bulk.compile_files([path], release_schema(settings), out, workers=2)
    assert [orjson.loads(line)["ocid"] for line in out.getvalue().splitlines()] == sorted(ocids)
    assert sorted(ocids, key=lambda o: o.encode()) == sorted(ocids)


def test_ocid_is_read_without_parsing_only_when_unambiguous() -> None:
    plain = b'{"ocid":"ocds-x-1","id":"1"}'
    tricky = b'{"id":"1","description":"say \\"ocid\\": \\"no\\"","ocid":"ocds-x-2"}'
    nested = b'{"ocid":"ocds-x-3","ext":{"ocid":"ocds-x-9"}}'
    escaped = b'{"ocid":"ocds-x-\\u0034"}'
    assert bulk._fast_ocid(plain) == b'"ocds-x-1"'
    assert bulk._fast_ocid(tricky) == b'"ocds-x-2"'
    assert bulk._fast_ocid(nested) is None
    assert bulk._fast_ocid(escaped) is None
    keys = [key for key, _ in bulk.release_items([plain, tricky, nested, escaped])]
    assert keys == [b'"ocds-x-1"', b'"ocds-x-2"', b'"ocds-x-3"', b'"ocds-x-4"']
    with pytest.raises(ValueError, match="no string ocid"):
        list(bulk.release_items([b'{"id": "1"}']))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b'{"ext":{"ocid":"x"},"id":"1"}', "no string ocid"),  # an ocid below the top level is not the release's
        (b'{"ocid":"x","id":"1",', "not JSON"),
    ],
)
def test_bad_releases_fail_clearly(settings, tmp_path: Path, line: bytes, message: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"ocid":"a","id":"1","date":"2026-01-01T00:00:00Z"}\n' + line + b"\n")
    with pytest.raises(ValueError, match=message):
        bulk.compile_files([path], release_schema(settings), io.BytesIO(), workers=2)


def test_missing_file_is_a_clear_error(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SemaforoError, match="no such file"):
        bulk.compile_files([tmp_path / "nope.jsonl"], release_schema(settings), io.BytesIO())


def test_buckets_grow_with_the_input() -> None:
    assert bulk._bucket_count(0, 2) == 2 * bulk.BUCKETS_PER_WORKER
    assert bulk._bucket_count(100 * bulk.BUCKET_BYTES, 2) == 100
    assert bulk._bucket_count(10**6 * bulk.BUCKET_BYTES, 2) == bulk.MAX_BUCKETS


def test_gzip_input_counts_as_its_uncompressed_size(tmp_path: Path) -> None:
    with gzip.open(tmp_path / "r.jsonl.gz", "wb") as fh:
        fh.write(b"{}\n")
    sources, estimated = bulk._sources([tmp_path / "r.jsonl.gz"], workers=2)
    assert sources == [bulk._Source(tmp_path / "r.jsonl.gz")]
    assert estimated == (tmp_path / "r.jsonl.gz").stat().st_size * bulk.GZIP_RATIO


@pytest.mark.parametrize("workers", [1, 3])
def test_releases_with_equal_dates_merge_in_input_order(settings, small_parts, tmp_path: Path, workers: int) -> None:  # type: ignore[no-untyped-def]
    # Equal dates: ocdsmerge's stable sort keeps input order, so the last release wins, across ranges and tasks.
    rows = [
        {"ocid": f"o{n % 3}", "id": str(n), "date": "2026-01-01T00:00:00Z", "tender": {"title": str(n)}}
        for n in range(60)
    ]
    jsonio.write_jsonl(tmp_path / "a.jsonl", rows[:40])
    jsonio.write_jsonl(tmp_path / "b.jsonl.gz", rows[40:])
    out = io.BytesIO()
    bulk.compile_files([tmp_path / "a.jsonl", tmp_path / "b.jsonl.gz"], release_schema(settings), out, workers=workers)
    assert [orjson.loads(line)["tender"]["title"] for line in out.getvalue().splitlines()] == ["57", "58", "59"]


def test_a_repeated_ocid_key_counts_as_parsing_says(settings, tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    # Read from the text, the first "ocid" key files the release under "a"; parsed, the last one ("b") counts.
    path = tmp_path / "r.jsonl"
    lines = [
        b'{"ocid":"a","id":"1","date":"2026-01-01T00:00:00Z","tender":{"title":"x"},"ocid":"b"}',
        b'{"ocid":"a","id":"2","date":"2026-01-02T00:00:00Z"}',
        b'{"ocid":"b","id":"3","date":"2026-01-03T00:00:00Z"}',
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    schema = release_schema(settings)
    out = io.BytesIO()
    with caplog.at_level("WARNING"):
        counts = bulk.compile_files([path], schema, out, workers=2)
    assert out.getvalue() == _expected([orjson.loads(line) for line in lines], schema, versioned=False)
    assert counts == {"releases": 3, "ocids": 2}
    assert "reading every release again" in caplog.text
