"""``semaforo compile`` equals ``ocdskit compile`` (same schema, same input) as JSON values."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from transforms import jsonio
from transforms.cli import main
from transforms.ocds.mapping import to_releases
from transforms.ocds.schema import release_schema
from transforms.sources.simulator import STAGES

OCDSKIT = str(Path(sys.executable).parent / "ocdskit")


@pytest.fixture
def inputs(cli_env, small_universe, settings, tmp_path: Path):  # type: ignore[no-untyped-def]
    records = [(stage, row) for stage in STAGES for row in small_universe.records[stage][:150]]
    releases, _ = to_releases(records, "ocds-x")
    releases_path = tmp_path / "releases.jsonl"
    jsonio.write_jsonl(releases_path, releases)
    package = {
        "uri": "https://example.org/p1.json",
        "publisher": {"name": "P"},
        "publishedDate": "2026-01-01T00:00:00Z",
        "version": "1.1",
        "license": "https://example.org/l",
        "extensions": ["https://example.org/e.json"],
        "releases": releases[:40],
    }
    package_path = tmp_path / "package.json"
    jsonio.write_json(package_path, package)
    schema_path = tmp_path / "schema.json"
    jsonio.write_json(schema_path, release_schema(settings))
    return releases_path, package_path, schema_path


def _ocdskit(args: list[str], path: Path) -> list[object]:
    with open(path, "rb") as fh:
        result = subprocess.run([OCDSKIT, "compile", *args], stdin=fh, capture_output=True, check=True)
    return [jsonio.loads(line) for line in result.stdout.splitlines() if line.strip()]


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        ([], []),
        (["--versioned"], ["--versioned"]),
        (["--records", "--uri", "u", "--published-date", "d"], ["--package", "--uri", "u", "--published-date", "d"]),
        (["--records", "--versioned", "--linked-releases"], ["--package", "--versioned", "--linked-releases"]),
    ],
    ids=["compiled", "versioned", "records", "records-versioned-linked"],
)
@pytest.mark.parametrize("which", [0, 1], ids=["releases", "package"])
def test_compile_equals_ocdskit(inputs, ours: list[str], theirs: list[str], which: int, capsysbinary) -> None:  # type: ignore[no-untyped-def]
    path, schema = inputs[which], inputs[2]
    assert main(["compile", *ours, str(path)]) == 0
    mine = [jsonio.loads(line) for line in capsysbinary.readouterr().out.splitlines() if line.strip()]
    assert mine == _ocdskit(["--schema", str(schema), *theirs], path)
    assert mine
