"""Generate the data dictionary (Markdown) from the table schemas, so it is never written twice."""

from __future__ import annotations

from typing import Any

from transforms.tables import table_schemas

LAYERS = {
    "core": "Core tables: the star schema flattened from compiled releases.",
    "out": "Output tables: scores and check results computed from the core tables.",
}


def _cell(text: str) -> str:
    """Escape a value for a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _constraints(field: dict[str, Any]) -> str:
    constraints = field.get("constraints") or {}
    notes = []
    if "enum" in constraints:
        notes.append("one of " + ", ".join(f"`{value}`" for value in constraints["enum"]))
    if "pattern" in constraints:
        notes.append(f"matches `{constraints['pattern']}`")
    if "minimum" in constraints or "maximum" in constraints:
        notes.append(f"between {constraints.get('minimum', '−∞')} and {constraints.get('maximum', '∞')}")
    return "; ".join(notes)


def render_table(name: str, schema: dict[str, Any]) -> str:
    """Render one table: description, primary key and one row per column."""
    key = ", ".join(f"`{column}`" for column in schema.get("primaryKey") or []) or "none"
    lines = [
        f"### `{name}`",
        "",
        schema["description"],
        "",
        f"Primary key: {key}.",
        "",
        "| column | type | description | allowed values |",
        "|---|---|---|---|",
    ]
    for field in schema["fields"]:
        lines.append(
            f"| `{field['name']}` | {field['type']} | {_cell(field['description'])} | {_cell(_constraints(field))} |"
        )
    return "\n".join(lines) + "\n"


def render_data_dictionary() -> str:
    """Return the data dictionary of every table as Markdown, generated from ``schemas/tables/*.json``."""
    schemas = table_schemas()
    parts = [
        "# Data dictionary",
        "",
        "Generated from `schemas/tables/*.json` (Frictionless Table Schema) by `transforms.dictionary`; do not edit "
        "by hand. Every table is a Parquet dataset (partitioned by `year` where it has one) and a table of the same "
        "name in the DuckDB file. Datetimes are UTC. Amounts carry their currency in the `*currency` column beside "
        "them.",
        "",
        "| table | rows | primary key |",
        "|---|---|---|",
    ]
    for name, schema in schemas.items():
        key = ", ".join(f"`{column}`" for column in schema.get("primaryKey") or [])
        parts.append(f"| [`{name}`](#{name}) | {_cell(schema['description'])} | {key} |")
    parts.append("")
    for layer, description in LAYERS.items():
        names = [name for name in schemas if name.startswith(f"{layer}_")]
        if not names:
            continue
        parts += [f"## {layer}", "", description, ""]
        parts += [render_table(name, schemas[name]) for name in names]
    others = [name for name in schemas if not any(name.startswith(f"{layer}_") for layer in LAYERS)]
    if others:
        parts += ["## other", ""] + [render_table(name, schemas[name]) for name in others]
    return "\n".join(parts).rstrip() + "\n"
