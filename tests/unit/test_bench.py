"""The benchmark's resumable progress: what ``--rerun-from`` measures again and what it keeps."""

from __future__ import annotations

from pathlib import Path

import pytest

from transforms import jsonio
from transforms.pipeline import STEPS

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(REPO))  # bench/ is a folder of the checkout, not an installed package
    measured = {step: {"seconds": 1.0, "peak_mib": 10.0} for step in STEPS}
    path = tmp_path / "progress-10.json"
    jsonio.write_json(
        path,
        {
            "simulate_seconds": 3.0,
            "history": measured,
            "on_history": measured,
            "cut_night": {"publish": measured["publish"]},
            "on_empty": measured,
        },
    )
    return path


def test_rerun_from_a_step_measures_it_every_later_step_and_the_nights_again(recorded: Path) -> None:
    from bench.pipeline import Progress

    phases = Progress(recorded, resume=True, rerun_from="score").phases
    assert phases["simulate_seconds"] == 3.0
    assert list(phases["history"]) == list(STEPS[: STEPS.index("score")])
    assert set(phases) == {"simulate_seconds", "history"}


def test_rerun_from_nights_keeps_the_whole_history(recorded: Path) -> None:
    from bench.pipeline import Progress

    phases = Progress(recorded, resume=True, rerun_from="nights").phases
    assert list(phases["history"]) == list(STEPS)
    assert set(phases) == {"simulate_seconds", "history"}


def test_resume_keeps_everything(recorded: Path) -> None:
    from bench.pipeline import Progress

    assert set(Progress(recorded, resume=True, rerun_from=None).phases) == {
        "simulate_seconds",
        "history",
        "on_history",
        "cut_night",
        "on_empty",
    }
