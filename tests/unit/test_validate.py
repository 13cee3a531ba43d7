from __future__ import annotations

import functools
import gzip
import http.server
import threading
from pathlib import Path

import pytest

from transforms import jsonio
from transforms.cli import main
from transforms.errors import SchemaUnavailableError
from transforms.ocds.schema import load_schema, schema_path
from transforms.settings import load_settings

GOOD = {
    "ocid": "ocds-x-1",
    "id": "1",
    "date": "2026-01-01T00:00:00-06:00",
    "tag": ["tender"],
    "initiationType": "tender",
    "parties": [],
}


def test_broken_releases_report_each_error_with_path_and_message(cli_env, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    broken = [
        GOOD,
        {**GOOD, "date": "yesterday"},
        {**GOOD, "tag": ["bogus"]},
        {**GOOD, "tender": {"id": "t", "procurementMethod": "sideways"}},
        {**GOOD, "awards": [{"id": "a", "value": {"amount": "12"}}, {"id": "b", "value": {"amount": "13"}}]},
        {key: value for key, value in GOOD.items() if key != "ocid"},
        {**GOOD, "bids": {"details": [{"id": "b1", "status": "won"}]}},  # the project's extension schema
    ]
    path = tmp_path / "broken.jsonl"
    jsonio.write_jsonl(path, broken)
    report_path = tmp_path / "report.json"
    assert main(["validate", "--json", str(report_path), str(path)]) == 1
    out = capsys.readouterr().out
    for expected in (
        "format at /date",
        "enum at /tag/[]",
        "enum at /tender/procurementMethod",
        "type at /awards/[]/value/amount: 2 time(s)",
        "required at /",
    ):
        assert expected in out
    report = jsonio.read_json(report_path)
    assert report["documents"] == 7 and report["invalid_documents"] == 6
    assert "broken.jsonl#2 (ocds-x-1) at /date" in out  # examples name the line and the ocid


def test_large_files_validate_in_parallel_with_the_same_report(settings, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from transforms.ocds import validate

    rows = [GOOD if n % 97 else {**GOOD, "date": "bad"} for n in range(12_000)]
    path = tmp_path / "many.jsonl"
    jsonio.write_jsonl(path, rows)
    (tmp_path / "junk.jsonl").write_bytes(b"{not json}\n")
    serial = validate.validate_files(settings, [path, tmp_path / "junk.jsonl"], workers=1)
    monkeypatch.setattr(validate, "PARALLEL_BYTES", 0)
    parallel = validate.validate_files(settings, [path, tmp_path / "junk.jsonl"], workers=2)
    assert parallel.to_dict() == serial.to_dict()
    assert serial.invalid_documents == len(range(0, 12_000, 97)) + 1
    assert "json" in {g["keyword"] for g in serial.to_dict()["groups"]}
    examples = [e["where"] for g in serial.to_dict()["groups"] for e in g["examples"]]
    assert examples == [
        "many.jsonl#1 (ocds-x-1) at /date",
        "many.jsonl#98 (ocds-x-1) at /date",
        "many.jsonl#195 (ocds-x-1) at /date",
        "junk.jsonl#1",
    ]


@pytest.mark.parametrize("ranges_per_worker", [1, 3, 40])
def test_byte_ranges_number_examples_by_their_line_in_the_file(
    settings, tmp_path: Path, monkeypatch, ranges_per_worker: int
) -> None:  # type: ignore[no-untyped-def]
    from transforms.ocds import validate

    monkeypatch.setattr(validate, "EXAMPLES_PER_GROUP", 1000)  # keep every example: each line number is checked
    lines = []
    for n in range(1, 301):
        if n % 7 == 0:
            lines.append(b"")  # blank lines count as lines, not as documents
        elif n % 11 == 0:
            lines.append(b'{"ocid": "broken",')
        else:
            lines.append(jsonio.dumps({**GOOD, "ocid": f"ocds-x-{n}", "date": "bad" if n % 5 == 0 else GOOD["date"]}))
    # CRLF line ends, and the last line has none.
    content = b"\r\n".join(lines)
    plain = tmp_path / "mixed.jsonl"
    plain.write_bytes(content)
    gz = tmp_path / "mixed.jsonl.gz"
    with gzip.open(gz, "wb") as fh:
        fh.write(content)
    serial = validate.validate_files(settings, [plain], workers=1)
    bad_dates = {e["where"] for g in serial.to_dict()["groups"] if g["keyword"] == "format" for e in g["examples"]}
    assert bad_dates == {
        f"mixed.jsonl#{n} (ocds-x-{n}) at /date" for n in range(1, 301) if n % 5 == 0 and n % 7 and n % 11
    }
    not_json = {e["where"] for g in serial.to_dict()["groups"] if g["keyword"] == "json" for e in g["examples"]}
    assert not_json == {f"mixed.jsonl#{n}" for n in range(1, 301) if n % 11 == 0 and n % 7}
    assert serial.documents == 300 - len(range(7, 301, 7))
    serial_gz = validate.validate_files(settings, [gz], workers=1)
    assert serial_gz.format() == serial.format().replace("mixed.jsonl#", "mixed.jsonl.gz#")

    monkeypatch.setattr(validate, "PARALLEL_BYTES", 0)
    monkeypatch.setattr(validate, "RANGES_PER_WORKER", ranges_per_worker)
    assert len(validate._parts([plain, gz], 2)) == 2 * ranges_per_worker + 1  # gzip is read whole
    parallel = validate.validate_files(settings, [plain, gz, plain], workers=2)
    # Each file is numbered from its own first line, as one pass over each file numbers them.
    expected = validate.Report()
    for one in (serial, serial_gz, serial):
        expected.merge(one)
    assert parallel.to_dict() == expected.to_dict()


def test_valid_package_exits_zero(cli_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    package = {
        "uri": "https://example.org/p.json",
        "publisher": {"name": "x"},
        "version": "1.1",
        "publishedDate": "2026-01-01T00:00:00Z",
        "releases": [GOOD],
    }
    path = tmp_path / "package.json"
    jsonio.write_json(path, package)
    assert main(["validate", str(path)]) == 0


def test_schema_is_downloaded_once_and_cached(tmp_path: Path, ocds_dir: Path) -> None:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(ocds_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        settings = load_settings(data_root=tmp_path, ocds_schema_url=f"http://127.0.0.1:{server.server_port}/")
        path = schema_path(settings, "release-schema.json")
        assert path == tmp_path / "cache" / "ocds-schema" / "1__1__5" / "release-schema.json"
        assert path.read_bytes() == (ocds_dir / "release-schema.json").read_bytes()
    finally:
        server.shutdown()
    # The server is gone: the cache answers.
    assert load_schema(settings)["title"]


def test_missing_schema_says_what_to_do(tmp_path: Path) -> None:
    settings = load_settings(data_root=tmp_path, ocds_schema_url="http://127.0.0.1:9/")
    with pytest.raises(SchemaUnavailableError, match="SEMAFORO_OCDS_SCHEMA_DIR"):
        schema_path(settings, "release-schema.json")
    with pytest.raises(SchemaUnavailableError, match="does not exist"):
        schema_path(load_settings(ocds_schema_dir=tmp_path), "release-schema.json")
