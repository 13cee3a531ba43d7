"""R048 Heterogeneous supplier — Cardinal's exact semantics (REFERENCE §6.1).

Formula: for the sole supplier of each ``active`` award with ``items`` (an award with several suppliers is skipped,
as not every supplier supplies every item), collect the first ``digits`` characters of each
``awards/items/classification/id`` and count the processes (each counted once per supplier). Keep suppliers awarded in
at least ``minimum_contracting_processes`` processes; variety = the number of distinct prefixes. Flag variety ≥ the
upper fence Q3 + 1.5·IQR (type 8) of the kept varieties. There is no positivity guard: if every kept supplier has the
same variety, the fence equals it and all are flagged, as in Cardinal.

Defaults: ``digits = 2`` (the top level of UNSPSC or CPV; CUCOP codes start with the object-of-expenditure
partida, so 2 digits give its concept, e.g. 22 food products); ``minimum_contracting_processes = 20`` (a supplier
with few awards is expected to be narrow); ``threshold`` unset (computed fence), or a natural number to fix it.

Why it is a red flag: a supplier of everything is more likely a front company or an intermediary extracting rents.

Output: Tenderer → variety. Meta: q1, q3, upper_fence.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from models.grouped import first_seen, groups
from models.indicators import Indicator, Observed, Outcome, fmt, quartiles, register, sole_id, upper_fence
from models.indicators.observations import Observation, Row, Views, register_observation
from models.indicators.settings import natural


def _classifications(views: Views) -> list[Row]:
    """Return each distinct (sole supplier, item classification id) of the active awards, in order of appearance."""
    seen: dict[tuple[str, str], None] = {}
    for award in views.active:
        items = award.get("items")
        supplier = sole_id(award.get("suppliers"))
        if not isinstance(items, list) or supplier is None:
            continue
        for item in items:
            classification = item.get("classification") if isinstance(item, dict) else None
            code = classification.get("id") if isinstance(classification, dict) else None
            if isinstance(code, str):
                seen[supplier, code] = None
    return [(position, supplier, code) for position, (supplier, code) in enumerate(seen)]


CLASSIFICATIONS = register_observation(
    Observation(
        "obs_supplier_classifications",
        (("position", pa.int32()), ("supplier_id", pa.string()), ("classification_id", pa.string())),
        _classifications,
        "Each distinct (sole supplier, awards/items/classification/id) of a process's active awards",
    )
)


def decide(observed: Observed, options: dict[str, Any]) -> Outcome:
    """Flag suppliers whose awarded items span an outlying number of classification prefixes."""
    outcome = Outcome()
    digits: int = options["digits"]
    rows = observed.joined(CLASSIFICATIONS.name, "o.supplier_id, o.classification_id", positioned=True)
    suppliers, names = first_seen(rows.column("supplier_id"))
    prefixes, _ = first_seen(pc.utf8_slice_codeunits(rows.column("classification_id"), 0, digits))
    ranks = rows.column("rank").to_numpy()
    # A supplier counts once per process, whatever the number of awards or items.
    processes = np.bincount(suppliers[groups(suppliers, ranks)[1]], minlength=len(names))
    variety = np.bincount(suppliers[groups(suppliers, prefixes)[1]], minlength=len(names))
    kept = np.flatnonzero(processes >= options["minimum_contracting_processes"])
    varieties = variety[kept].astype(float)
    if options["threshold"] is None:
        q1, q3 = quartiles(varieties)
        outcome.meta.update(q1=q1, q3=q3)
        fence = upper_fence(q1, q3)
    else:
        fence = float(options["threshold"])
    outcome.meta["upper_fence"] = fence
    for j in np.flatnonzero(varieties >= fence).tolist():
        i = int(kept[j])
        outcome.flag(
            "Tenderer",
            names[i],
            float(varieties[j]),
            threshold=fence,
            explanation=f"supplied items in {variety[i]} classification groups ({digits}-digit prefixes) across "
            f"{processes[i]} processes, at or above the upper fence of {fmt(fence)}",
        )
    return outcome


R048 = register(
    Indicator(
        code="R048",
        name="Heterogeneous supplier",
        stage="award",
        fields=("awards/status", "awards/suppliers/id", "awards/items/classification/id"),
        formula="distinct first-digits prefixes of a supplier's awarded item classifications >= Q3 + 1.5·IQR",
        decide=decide,
        observes=(CLASSIFICATIONS.name,),
        defaults={"digits": 2, "minimum_contracting_processes": 20, "threshold": None},
        reasons={
            "digits": "Cardinal's default: the first level of a hierarchical classification (UNSPSC, CPV, CUCOP)",
            "minimum_contracting_processes": "Cardinal's default: few awards make a supplier look narrow by chance",
            "threshold": "unset: the upper fence Q3 + 1.5·IQR of the kept suppliers' varieties (Cardinal's default)",
        },
        options={"digits": natural, "minimum_contracting_processes": natural, "threshold": natural},
    )
)
