"""Personal data (contact points) is withheld from every published format unless the policy says keep."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms import tables
from transforms.errors import SettingsError
from transforms.ocds.validate import Validator
from transforms.redact import personal_values, redact, redactor
from transforms.settings import load_settings

OFFICIAL = "Ana Persona Ejemplo"


def release() -> dict[str, Any]:
    """A tender release whose procuring entity names its head, as the mapping writes CompraNet's ``responsable``."""
    return {
        "ocid": "ocds-sem4f0-LA-001",
        "id": "tenders-1",
        "date": "2026-11-10T10:00:00-06:00",
        "tag": ["tender"],
        "initiationType": "tender",
        "parties": [
            {"id": "MX-CPA-SEGOB", "name": "Secretaría de Gobernación", "roles": ["buyer"]},
            {
                "id": "MX-UC-004",
                "name": "SEGOB-Dirección de Administración",
                "roles": ["procuringEntity"],
                "contactPoint": {"name": OFFICIAL, "email": "ana@example.org", "telephone": "55 5555 5555"},
            },
        ],
        "buyer": {"id": "MX-CPA-SEGOB", "name": "Secretaría de Gobernación"},
        "tender": {
            "id": "1001",
            "title": "Servicio de limpieza",
            "procurementMethod": "open",
            # OCDS 1.0-style organization references could carry a contact point too (deprecated in 1.1).
            "procuringEntity": {"id": "MX-UC-004", "name": "SEGOB-Dirección de Administración"},
        },
    }


def test_redact_removes_every_contact_point_and_nothing_else() -> None:
    original = release()
    original["tender"]["procuringEntity"]["contactPoint"] = {"name": OFFICIAL}
    original["parties"][0]["additionalContactPoints"] = [{"name": "Otra Persona", "email": "otra@example.org"}]
    kept = copy.deepcopy(original)
    redacted = redact(original)
    assert original == kept, "redact must not change its input"
    assert personal_values(redacted) == set()
    assert OFFICIAL not in repr(redacted) and "otra@example.org" not in repr(redacted)
    # Everything that is not a contact point is untouched.
    del kept["parties"][1]["contactPoint"], kept["parties"][0]["additionalContactPoints"]
    del kept["tender"]["procuringEntity"]["contactPoint"]
    assert redacted == kept


def test_personal_values_lists_what_redaction_removes() -> None:
    assert personal_values(release()) == {OFFICIAL, "ana@example.org", "55 5555 5555"}
    assert personal_values({"parties": [{"name": "Secretaría de Salud"}]}) == set()


def test_the_policy_chooses_redact_or_keep() -> None:
    assert redactor("redact")(release()) == redact(release())
    assert redactor("keep")(release()) == release()
    with pytest.raises(ValueError, match="unknown personal data policy"):
        redactor("publish-everything")


def test_the_setting_defaults_to_redact_and_rejects_other_values() -> None:
    assert load_settings().publication_personal_data == "redact"
    assert load_settings(publication_personal_data="keep").publication_personal_data == "keep"
    with pytest.raises(SettingsError, match="publication_personal_data"):
        load_settings(publication_personal_data="maybe")


def test_redacted_releases_stay_valid(settings) -> None:  # type: ignore[no-untyped-def]
    report = Validator(settings).check([release(), redact(release())])
    assert report.ok, report.format()


def test_the_tables_carry_no_personal_data() -> None:
    """The star schema has no contact point column, so Parquet, DuckDB and the flat files need no redaction."""
    compiled = {**release(), "id": "compiled-1", "tag": ["compiled"]}
    rows = tables.flatten([compiled])
    values = {repr(value) for table in rows.values() for row in table for value in row.values()}
    assert rows["core_organizations"], "the parties became rows"
    assert not any(secret in value for value in values for secret in personal_values(compiled))
    columns = {f["name"] for schema in tables.table_schemas().values() for f in schema["fields"]}
    assert not {c for c in columns if "contact" in c or "email" in c or "telephone" in c}


def test_the_text_redactor_withholds_contact_points_and_leaves_other_text_as_stored() -> None:
    import orjson

    from transforms.redact import text_redactor

    plain = orjson.dumps({"ocid": "o", "parties": [{"id": "1", "name": "Unidad"}]})
    personal = orjson.dumps({"ocid": "o", "parties": [{"id": "1", "contactPoint": {"name": "Ana"}}]})
    redact_text = text_redactor("redact")
    assert redact_text(plain) is plain, "no personal key: published as stored, without parsing"
    assert orjson.loads(redact_text(personal)) == {"ocid": "o", "parties": [{"id": "1"}]}
    assert text_redactor("keep")(personal) == personal


_KEYS = st.sampled_from(["contactPoint", "additionalContactPoints", "name", "id", 'a"contactPoint', "x,", "{"])
_SCALARS = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False, allow_infinity=False)
_TEXTS = st.sampled_from(['"contactPoint":', "contactPoint", ',"contactPoint":{', "Ana", "ñandú \u2028", "\\"])
_JSON = st.recursive(
    _SCALARS | _TEXTS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_KEYS, children, max_size=5),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None)
@given(_JSON)
def test_cutting_members_out_of_the_text_equals_redacting_the_parsed_value(value: Any) -> None:
    import orjson

    from transforms.redact import text_redactor

    assert text_redactor("redact")(orjson.dumps(value)) == orjson.dumps(redact(value))


def test_a_release_is_redacted_in_its_text_without_being_parsed() -> None:
    import orjson

    from transforms.redact import _cut_members

    with_extension = release()
    with_extension["parties"][0]["additionalContactPoints"] = [{"name": OFFICIAL}, {"contactPoint": {"name": "x"}}]
    for value in (release(), with_extension, {"contactPoint": {}, "additionalContactPoints": [], "id": "1"}):
        assert _cut_members(orjson.dumps(value)) == orjson.dumps(redact(value))
    spaced = b'{"id": "1", "contactPoint": {"name": "Ana"}}'
    assert _cut_members(spaced) is None, "not compact: the parsing path"
