"""Folding a night's releases into yesterday's compiled release equals compiling every release again (REFERENCE §4)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from ocdsmerge.util import sorted_releases
from test_fastmerge import PROFILE, SCHEMA_PATH, WELL_FORMED, _groups, _rules, _schema

from transforms.ocds.compile import compile_releases, continue_compiled
from transforms.ocds.fastmerge import compile_release

pytestmark = [
    pytest.mark.skipif(not SCHEMA_PATH.is_file(), reason="the official OCDS 1.1.5 release schema is not available"),
    pytest.mark.filterwarnings("ignore::ocdsmerge.exceptions.DuplicateIdValueWarning"),
]


def _split(group: list[dict[str, Any]], at: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    ordered = sorted_releases(copy.deepcopy(group))
    return ordered[:at], ordered[at:]


@PROFILE
@given(releases=WELL_FORMED, data=st.data())
def test_continuing_from_the_compiled_release_equals_a_full_recompile(releases: list[dict[str, Any]], data) -> None:  # type: ignore[no-untyped-def]
    for group in _groups(releases):
        at = data.draw(st.integers(0, len(group)))
        earlier, later = _split(group, at)
        previous = compile_release(copy.deepcopy(earlier), _rules()) if earlier else None
        result = continue_compiled(previous, copy.deepcopy(later), _rules()) if later else previous
        if result is None:  # the pipeline then recompiles the ocid from all its releases
            assert previous is not None
            event("full recompile needed")
            continue
        assert result == compile_release(copy.deepcopy(group), _rules())


@PROFILE
@given(releases=WELL_FORMED)
def test_a_release_dated_before_the_compiled_release_asks_for_a_full_recompile(releases: list[dict[str, Any]]) -> None:
    for group in _groups(releases):
        previous = compile_release(copy.deepcopy(group), _rules())
        late_news = {**group[0], "id": "late", "date": "2019-12-31T00:00:00Z"}  # before every date drawn
        assert continue_compiled(previous, [late_news], _rules()) is None


def test_compile_releases_is_the_reference_here_too() -> None:
    release = {"ocid": "ocds-213czf-1", "id": "1", "date": "2020-01-01T00:00:00Z", "tag": ["tender"], "parties": []}
    assert list(compile_releases([release], _schema())) == [continue_compiled(None, [release], _rules())]
