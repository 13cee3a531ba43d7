"""fastmerge compiles exactly as ocdsmerge 0.8.0 (REFERENCE §4): differential property tests and awkward cases."""

from __future__ import annotations

import contextlib
import copy
import json
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any

import ocdsmerge
import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from ocdsmerge.exceptions import (
    DuplicateIdValueWarning,
    InconsistentTypeError,
    MissingDateKeyError,
    NonStringDateValueError,
    NullDateValueError,
)
from ocdsmerge.rules import get_merge_rules
from ocdsmerge.util import sorted_releases

from transforms.ocds import fastmerge
from transforms.ocds.compile import compile_releases
from transforms.ocds.fastmerge import compile_release, compile_stream, merge_rules, versioned_release

OCDS_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "ocds" / "1.1.5"
SCHEMA_PATH = OCDS_DIR / "release-schema.json"

pytestmark = [
    pytest.mark.skipif(
        not SCHEMA_PATH.is_file(), reason=f"the official OCDS 1.1.5 release schema is not at {SCHEMA_PATH}"
    ),
    # Duplicate ids are generated on purpose; both engines warn about them.
    pytest.mark.filterwarnings("ignore::ocdsmerge.exceptions.DuplicateIdValueWarning"),
]

PROFILE = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
OCID = "ocds-213czf-1"


@lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    result: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
    return result


@lru_cache(maxsize=1)
def _merger() -> ocdsmerge.Merger:
    return ocdsmerge.Merger(schema=str(SCHEMA_PATH))


def _rules() -> fastmerge.MergeRules:
    return merge_rules(_schema())


def _groups(releases: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for release in releases:
        groups.setdefault(release["ocid"], []).append(release)
    return [groups[ocid] for ocid in sorted(groups)]


def _outcome(build: Any, group: list[dict[str, Any]]) -> tuple[str, Any]:
    """Return ("ok", exact JSON bytes) or ("error", exception class); inputs are copied, ocdsmerge may mutate them."""
    try:
        return "ok", orjson.dumps(build(copy.deepcopy(group)))
    except Exception as exc:  # the class is what is compared
        return "error", type(exc)


def _reference(group: list[dict[str, Any]], versioned: bool) -> tuple[str, Any]:
    merger = _merger()
    return _outcome(merger.create_versioned_release if versioned else merger.create_compiled_release, group)


def _fast(group: list[dict[str, Any]], versioned: bool) -> tuple[str, Any]:
    build = versioned_release if versioned else compile_release
    return _outcome(lambda releases: build(releases, _rules()), group)


def _fast_path_only(group: list[dict[str, Any]], versioned: bool) -> bytes | None:
    """Return the fast engine's own output, or None where it hands the group to ocdsmerge."""
    try:
        return orjson.dumps(fastmerge._merge(sorted_releases(copy.deepcopy(group)), _rules(), versioned=versioned))
    except fastmerge._Fallback:
        return None


def _release(date: str, ocid: str = OCID, **fields: Any) -> dict[str, Any]:
    return {"ocid": ocid, "id": f"r-{date}", "date": date, "tag": ["tender"], **fields}


def _compiled(*releases: dict[str, Any]) -> dict[str, Any]:
    """Compile with both engines, check they agree exactly, and return the result."""
    expected = _merger().create_compiled_release(copy.deepcopy(list(releases)))
    actual = compile_release(list(releases), _rules())
    assert orjson.dumps(actual) == orjson.dumps(expected)
    return actual


def _versioned(*releases: dict[str, Any]) -> dict[str, Any]:
    expected = _merger().create_versioned_release(copy.deepcopy(list(releases)))
    actual = versioned_release(list(releases), _rules())
    assert orjson.dumps(actual) == orjson.dumps(expected)
    return actual


# -- strategies ---------------------------------------------------------------------------------------------
DATES = st.sampled_from(
    [
        "2020-01-01T10:00:00-06:00",  # 16:00Z, later than the next two instants, but sorts before them
        "2020-01-01T12:00:00Z",
        "2020-01-01T10:00:00Z",
        "2020-01-02T00:00:00-06:00",
    ]
)
TEXT = st.sampled_from(["x", "y", "Ñ", ""])
NUMBER = st.sampled_from([0, 1, 1.0, 2.5, True])  # 1 == 1.0 == True: versioning keeps one entry, compiling the last
LEAF = st.one_of(TEXT, NUMBER, st.none())


def _shuffled(value: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.permutations(list(value.items())).map(dict)


def _release_strategy(*, wild: bool) -> st.SearchStrategy[dict[str, Any]]:
    """Releases with nulls, {} and [], id-less items and duplicate ids; ``wild`` adds type conflicts and bad dates."""

    def either(strategy: st.SearchStrategy[Any], *alternatives: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.one_of(strategy, *alternatives) if wild else strategy

    # Integer and string ids, never 1 and "1" in one array unless wild.
    ident = either(
        st.sampled_from(["a", "b", "c", 1, 2]),
        st.sampled_from(["1", "2", None, 2.0, True, ["a"], {"id": "a"}]),
    )
    leaf = either(LEAF, st.just({"x": "y"}), st.just(["x"]))

    def obj(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
        # null on an object keeps its descendants; {} neither creates nor clears.
        return either(
            st.one_of(st.fixed_dictionaries({}, optional=fields), st.none(), st.just({})), TEXT, st.just(["x"])
        )

    def item(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
        # `id` is optional: id-less items are always appended; key order varies, `id` comes first in the output.
        return st.fixed_dictionaries({}, optional={"id": ident, **fields}).flatmap(_shuffled)

    def arr(element: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return either(
            st.one_of(st.lists(element, max_size=3), st.none()),  # [] on an identifier array does nothing
            st.lists(st.one_of(element, TEXT), min_size=1, max_size=3),  # a non-object makes the array a literal
            element,
        )

    def whole_list(element: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        # wholeListMerge: replaced as one value whatever it holds, [] stored, null removes it.
        return either(st.one_of(st.lists(element, max_size=2), st.none()), element)

    strings = st.one_of(st.lists(st.sampled_from(["electronicSubmission", "written", "buyer"]), max_size=2), st.none())
    value = obj({"amount": either(NUMBER, st.none()), "currency": st.sampled_from(["MXN", "USD", None])})
    identifier = obj({"scheme": TEXT, "id": leaf, "legalName": leaf})
    classification = obj({"scheme": TEXT, "id": leaf, "description": leaf})
    reference = item({"name": leaf})
    document = item({"documentType": TEXT, "url": leaf})
    items = arr(
        item(
            {
                "description": leaf,
                "quantity": NUMBER,
                "classification": classification,
                "additionalClassifications": whole_list(st.fixed_dictionaries({"scheme": TEXT, "id": TEXT})),
                "unit": obj({"name": leaf, "id": leaf, "value": value}),
            }
        )
    )
    party = item(
        {
            "name": leaf,
            "roles": strings,
            "identifier": identifier,
            "additionalIdentifiers": whole_list(st.fixed_dictionaries({"scheme": TEXT, "id": TEXT})),
            "address": obj({"locality": leaf, "region": leaf}),
        }
    )
    amendment = item(
        {
            "date": DATES,
            "rationale": leaf,
            # Amendment/changes items have no `id` in the schema: wholeListMerge.
            "changes": whole_list(st.fixed_dictionaries({"property": TEXT, "former_value": LEAF})),
        }
    )
    tender = obj(
        {
            "id": TEXT,  # versioned, unlike the ids of array items
            "title": leaf,
            "status": leaf,
            "items": items,
            "submissionMethod": strings,
            "value": value,
            "tenderers": arr(reference),
            "documents": arr(document),
        }
    )
    award = item({"title": leaf, "status": leaf, "value": value, "suppliers": arr(reference), "items": items})
    contract = item(
        {
            "awardID": ident,
            "title": leaf,
            "value": value,
            "items": items,
            "amendments": arr(amendment),
            "implementation": obj({"transactions": arr(item({"value": value, "payer": obj({"id": TEXT})}))}),
        }
    )
    # `bids` is not in the core schema: bids/details is still merged by id.
    bids = obj({"details": arr(item({"status": leaf, "value": value, "tenderers": arr(reference)}))})
    date = either(DATES, st.none(), st.integers(0, 2))
    required = {"ocid": st.sampled_from([OCID, "ocds-213czf-2", "1"]), "id": TEXT, "date": date}
    optional = {
        "tag": st.lists(st.sampled_from(["tender", "award", "contract"]), max_size=2),
        "initiationType": leaf,
        "parties": arr(party),
        "buyer": obj({"id": TEXT, "name": leaf}),
        "tender": tender,
        "awards": arr(award),
        "contracts": arr(contract),
        "bids": bids,
    }
    release = st.fixed_dictionaries(required, optional=optional).flatmap(_shuffled)
    if wild:
        release = st.one_of(release, st.fixed_dictionaries({"ocid": st.just(OCID), "id": TEXT}))  # no date
    return release


WELL_FORMED = st.lists(_release_strategy(wild=False), min_size=1, max_size=6)
WILD = st.lists(_release_strategy(wild=True), min_size=1, max_size=6)


# -- differential properties ----------------------------------------------------------------------------------
@PROFILE
@given(releases=WELL_FORMED, versioned=st.booleans())
def test_well_formed_streams_compile_as_ocdsmerge_on_the_fast_path(
    releases: list[dict[str, Any]], versioned: bool
) -> None:
    for group in _groups(releases):
        expected = _reference(group, versioned)
        assert _fast(group, versioned) == expected
        fast = _fast_path_only(group, versioned)
        if fast is None:
            # Compiling well-formed data never needs ocdsmerge. Versioning does for null on an object or array and
            # then the object or array (ocdsmerge raises, or appends to the null's history), and duplicate ids.
            assert versioned
            event("versioned: handed to ocdsmerge")
        else:
            # This checks the fast engine itself, not its hand-over to ocdsmerge.
            assert expected == ("ok", fast)


@PROFILE
@given(releases=WILD, versioned=st.booleans())
def test_wild_streams_compile_or_fail_as_ocdsmerge(releases: list[dict[str, Any]], versioned: bool) -> None:
    for group in _groups(releases):
        expected = _reference(group, versioned)
        assert _fast(group, versioned) == expected
        try:
            fast = _fast_path_only(group, versioned)
        except Exception as exc:
            fast = None
            assert expected == ("error", type(exc))  # only sorting errors escape, and they are ocdsmerge's own
        event("fast path" if fast is not None else "handed to ocdsmerge")
        if fast is not None:
            assert expected == ("ok", fast)


@PROFILE
@given(releases=WELL_FORMED)
def test_compile_stream_equals_compile_releases(releases: list[dict[str, Any]]) -> None:
    for versioned in (False, True):
        expected = _outcome(
            lambda copied, v=versioned: list(compile_releases(copied, _schema(), versioned=v)), releases
        )
        actual = _outcome(lambda copied, v=versioned: list(compile_stream(copied, _schema(), versioned=v)), releases)
        assert actual == expected


@PROFILE
@given(releases=WELL_FORMED)
def test_the_fast_path_does_not_modify_its_input(releases: list[dict[str, Any]]) -> None:
    # (ocdsmerge itself can: it appends array items to a literal list it was given.)
    before = orjson.dumps(releases)
    for group in _groups(releases):
        for versioned in (False, True):
            with contextlib.suppress(fastmerge._Fallback):
                fastmerge._merge(sorted_releases(group), _rules(), versioned=versioned)
    assert orjson.dumps(releases) == before


# -- rules ----------------------------------------------------------------------------------------------------
def test_rules_equal_ocdsmerge_for_the_official_schema() -> None:
    rules = merge_rules(_schema())
    assert rules.flat == get_merge_rules(str(SCHEMA_PATH))
    assert rules.flat[("tag",)] == "omitWhenMerged"
    assert rules.flat[("parties", "roles")] == "wholeListMerge"
    assert rules.flat[("contracts", "amendments", "changes")] == "wholeListMerge"  # items without `id`
    assert merge_rules(copy.deepcopy(_schema())) is rules  # computed once per schema


def test_rules_follow_ocdsmerge_precedence_and_references() -> None:
    schema = {
        "properties": {
            "old": {"type": "string", "mergeStrategy": "ocdsOmit"},
            "versioned": {"type": ["array", "null"], "mergeStrategy": "ocdsVersion", "items": {"type": "object"}},
            "omitted": {"$ref": "#/definitions/Omitted", "wholeListMerge": False},
            "obj": {"type": "object", "properties": {"list": {"type": "array", "items": {"$ref": "#/definitions/A"}}}},
            "idless": {"type": "array", "items": {"type": "object", "properties": {"x": {"type": "string"}}}},
            "mixed": {"type": "array", "items": {"type": ["object", "string"]}},
            "chained": {"$ref": "#/definitions/Chain"},
        },
        "definitions": {
            "Omitted": {"type": "array", "omitWhenMerged": True, "wholeListMerge": True},
            "A": {"type": "object", "properties": {"id": {"type": "string"}, "ids": {"type": "array", "items": {}}}},
            "Chain": {"$ref": "#/definitions/Omitted"},
        },
    }
    assert merge_rules(schema).flat == get_merge_rules(schema)
    assert merge_rules(schema).flat == {
        ("old",): "omitWhenMerged",
        ("versioned",): "wholeListMerge",
        ("omitted",): "omitWhenMerged",
        ("idless",): "wholeListMerge",
        ("mixed",): "wholeListMerge",
        ("chained",): "omitWhenMerged",
    }


# -- awkward cases, by hand (REFERENCE §4.3, §4.4) ------------------------------------------------------------
def test_dates_sort_as_raw_strings_across_offsets() -> None:
    # 10:00-06:00 is 16:00Z, the later instant, but "...T10" < "...T12" as strings, so it is merged first.
    later_instant = _release("2020-01-01T10:00:00-06:00", tender={"title": "later instant"})
    later_string = _release("2020-01-01T12:00:00Z", tender={"title": "later string"})
    result = _compiled(later_string, later_instant)
    assert result["tender"] == {"title": "later string"}
    assert result["id"] == f"{OCID}-2020-01-01T12:00:00Z"
    assert list(result)[:4] == ["tag", "id", "date", "ocid"]


def test_no_releases_and_one_release_without_a_date() -> None:
    assert compile_release([], _rules()) == _merger().create_compiled_release([]) == {"tag": ["compiled"]}
    assert versioned_release([], _rules()) == _merger().create_versioned_release([]) == {}
    undated = {"ocid": OCID, "tender": {"title": "t"}}  # ocdsmerge does not sort a single release
    assert _compiled(undated) == {"tag": ["compiled"], "id": f"{OCID}-None", "ocid": OCID, "tender": {"title": "t"}}


def test_equal_dates_keep_input_order_and_the_last_wins() -> None:
    result = _compiled(
        _release("2020-01-01", tender={"title": "first"}), _release("2020-01-01", tender={"title": "second"})
    )
    assert result["tender"]["title"] == "second"


def test_null_on_a_leaf_removes_it_and_null_on_an_object_keeps_descendants() -> None:
    first = _release("2020-01-01", tender={"id": "t", "title": "a"}, buyer={"name": "b"})
    second = _release("2020-01-02", tender=None, buyer={"name": None})
    result = _compiled(first, second)
    assert result["tender"] == {"id": "t", "title": "a"}
    assert result["buyer"] == {}  # the object stays, emptied


def test_empty_array_on_an_identifier_array_does_nothing() -> None:
    first = _release("2020-01-01", awards=[{"id": "1", "title": "a"}])
    result = _compiled(first, _release("2020-01-02", awards=[], tender={}))
    assert result["awards"] == [{"id": "1", "title": "a"}]
    assert "tender" not in result  # {} neither creates nor clears


def test_empty_array_on_submission_method_is_stored() -> None:
    first = _release("2020-01-01", tender={"submissionMethod": ["electronicSubmission"]})
    result = _compiled(first, _release("2020-01-02", tender={"submissionMethod": []}))
    assert result["tender"] == {"submissionMethod": []}


def test_whole_list_merge_values_are_replaced_whatever_they_hold() -> None:
    def party(value: Any) -> list[dict[str, Any]]:
        return [{"id": "p", "additionalIdentifiers": value}]

    # An object at a wholeListMerge path is a value, not an object to merge into.
    result = _compiled(_release("1", parties=party({"scheme": "A"})), _release("2", parties=party("text")))
    assert result["parties"] == [{"id": "p", "additionalIdentifiers": "text"}]
    result = _compiled(_release("1", parties=party([{"id": "x"}])), _release("2", parties=party(None)))
    assert result["parties"] == [{"id": "p"}]


def test_identifier_merge_ids_items_without_id_and_duplicates() -> None:
    first = _release("2020-01-01", awards=[{"title": "x", "id": 1}, {"title": "no id"}])
    second = _release("2020-01-02", awards=[{"id": 1, "status": "active"}, {"title": "no id"}, {"id": "a"}])
    result = _compiled(first, second)
    assert result["awards"] == [
        {"id": 1, "title": "x", "status": "active"},  # `id` first, integer kept
        {"title": "no id"},
        {"title": "no id"},  # id-less items pile up
        {"id": "a"},
    ]
    with pytest.warns(DuplicateIdValueWarning, match="awards"):
        result = compile_release([_release("2020-01-01", awards=[{"id": "a", "x": 1}, {"id": "a", "y": 2}])], _rules())
    assert result["awards"] == [{"id": "a", "x": 1, "y": 2}]


def test_integer_and_string_ids_follow_ocdsmerge() -> None:
    # ocdsmerge matches 1 and "1" as strings but rebuilds by value: whether they merge depends on which fields
    # each release sends. Both results below are ocdsmerge's own.
    same_field = _compiled(
        _release("1", awards=[{"id": 1, "title": "a"}]), _release("2", awards=[{"id": "1", "title": "b"}])
    )
    assert same_field["awards"] == [{"id": 1, "title": "b"}]
    new_field = _compiled(
        _release("1", awards=[{"id": 1, "title": "a"}]), _release("2", awards=[{"id": "1", "value": 5}])
    )
    assert new_field["awards"] == [{"id": 1, "title": "a"}, {"id": "1", "value": 5}]


def test_a_null_leaf_keeps_its_place_but_an_object_after_it_moves_last() -> None:
    first = _release("2020-01-01", tender=None, awards=[{"id": "1", "title": None}], buyer={"name": "b"})
    second = _release("2020-01-02", tender={"title": "t"}, awards=[{"id": "1", "title": "x"}])
    result = _compiled(first, second)
    assert list(result)[4:] == ["awards", "buyer", "tender"]
    assert result["awards"] == [{"id": "1", "title": "x"}]


def test_arrays_of_non_objects_are_literals() -> None:
    first = _release("2020-01-01", bids={"details": [{"id": "1", "status": "valid"}]})
    second = _release("2020-01-02", bids={"details": [{"id": "2"}]}, tender={"items": ["a", {"id": "b"}]})
    result = _compiled(first, second)
    assert result["bids"]["details"] == [{"id": "1", "status": "valid"}, {"id": "2"}]
    assert result["tender"]["items"] == ["a", {"id": "b"}]


@pytest.mark.parametrize(
    "values",
    [
        ["text", {"title": "x"}],
        [["text"], {"title": "x"}],
        [{"title": "x"}, [{"id": "1"}]],
        # The null leaf keeps its place before the object, so the later literal lands there, before the object.
        [None, {"title": "x"}, "text"],
    ],
)
def test_inconsistent_types_raise_ocdsmerges_error(values: list[Any]) -> None:
    releases = [_release(f"2020-01-0{day}", tender=value) for day, value in enumerate(values, 1)]
    with pytest.raises(InconsistentTypeError):
        _merger().create_compiled_release(copy.deepcopy(releases))
    with pytest.raises(InconsistentTypeError):
        compile_release(releases, _rules())


@pytest.mark.parametrize(
    ("date", "error"),
    [(None, NullDateValueError), (20200101, NonStringDateValueError), ("missing", MissingDateKeyError)],
)
def test_bad_dates_raise_ocdsmerges_errors(date: Any, error: type[Exception]) -> None:
    bad = _release("2020-01-01")
    if date == "missing":
        del bad["date"]
    else:
        bad["date"] = date
    releases = [_release("2020-01-02"), bad]
    for build in (compile_release, versioned_release):
        with pytest.raises(error):
            build(releases, _rules())
    with pytest.raises(error):
        _merger().create_compiled_release(releases)


def test_versioned_keeps_item_ids_and_ocid_plain() -> None:
    first = _release("2020-01-01", tender={"id": "t1", "items": [{"id": "i", "quantity": 1}]})
    second = _release("2020-01-02", tender={"id": "t2", "items": [{"id": "i", "quantity": 1.0}]})
    result = _versioned(first, second)
    assert result["ocid"] == OCID
    assert "id" not in result and "date" not in result and "tag" not in result
    assert [entry["value"] for entry in result["tender"]["id"]] == ["t1", "t2"]
    assert result["tender"]["items"][0]["id"] == "i"
    assert len(result["tender"]["items"][0]["quantity"]) == 1  # 1 == 1.0: no new entry


def test_simulated_pipeline_releases_compile_on_the_fast_path() -> None:
    from transforms.ocds.mapping import to_releases
    from transforms.sources.simulator import SimulationConfig, simulate

    universe = simulate(SimulationConfig(seed=3, procedures=150))
    releases, _ = to_releases([(stage, row) for stage, rows in universe.records.items() for row in rows], "ocds-x")
    for group in _groups(releases):
        for versioned in (False, True):
            expected = _reference(group, versioned)
            assert _fast_path_only(group, versioned) == expected[1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no duplicate ids
        assert orjson.dumps(list(compile_stream(releases, _schema()))) == orjson.dumps(
            list(compile_releases(copy.deepcopy(releases), _schema()))
        )
