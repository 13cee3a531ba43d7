"""Golden fixtures: ``fixtures/indicators/<CODE>-<case>.jsonl`` → ``<CODE>-<case>.expected.json`` (Cardinal shape)."""

from __future__ import annotations

from pathlib import Path

import pytest

from transforms import jsonio
from transforms.cli import main

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "indicators"
CASES = sorted(p for p in FIXTURES.glob("*.jsonl"))


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_golden(case: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["indicators", "--format", "cardinal", str(case)]) == 0
    expected = jsonio.read_json(case.with_name(case.stem + ".expected.json"))
    assert jsonio.loads(capsys.readouterr().out) == expected
