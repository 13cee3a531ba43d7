"""The benchmark's resumable progress: what ``--rerun-from`` measures again and what it keeps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from transforms import jsonio
from transforms.pipeline import STEPS

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(REPO))  # bench/ is a folder of the checkout, not an installed package
    measured = {step: {"seconds": 1.0, "peak_mib": 10.0} for step in STEPS}
    path = tmp_path / "progress-10.json"
    night = {"on_history": measured, "cut_night": {"publish": measured["publish"]}, "on_empty": measured}
    jsonio.write_json(path, {"simulate_seconds": 3.0, "history": measured, "nights": [night]})
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

    assert set(Progress(recorded, resume=True, rerun_from=None).phases) == {"simulate_seconds", "history", "nights"}


def test_single_nights_of_the_former_layout_are_measured_again(recorded: Path) -> None:
    from bench.pipeline import Progress

    phases = jsonio.read_json(recorded)
    former = {"simulate_seconds": 3.0, "history": phases["history"], **phases["nights"][0]}
    jsonio.write_json(recorded, former)
    assert set(Progress(recorded, resume=True, rerun_from=None).phases) == {"simulate_seconds", "history"}


def _night(history: float, empty: float, publish: float = 1.0) -> dict[str, Any]:
    """A run of the nights whose steps each take a share of ``history`` and ``empty`` seconds."""

    def steps(total: float) -> dict[str, dict[str, float]]:
        return {step: {"seconds": total / len(STEPS), "peak_mib": total} for step in STEPS}

    return {"on_history": steps(history), "cut_night": {"publish": {"seconds": publish}}, "on_empty": steps(empty)}


def test_nightly_reports_the_median_of_paired_ratios_and_their_range() -> None:
    from bench.pipeline import WEEK, nightly

    # A slow empty night beside a slow history night (the machine was busy): pairing keeps their ratio sound.
    runs = [_night(100.0, 25.0, publish=58.0), _night(120.0, 40.0), _night(90.0, 20.0)]
    summary = nightly(runs)
    assert summary["runs"] == 3
    assert summary["ratios"] == [4.0, 3.0, 4.5]
    assert summary["ratio"] == 4.0
    assert (summary["on_history_seconds"], summary["on_empty_seconds"]) == (100.0, 25.0)
    assert summary["on_history"]["score"] == {"seconds": 12.5, "peak_mib": 120.0}  # median seconds, largest peak
    assert summary["week_average_seconds"] == round(100.0 + (58.0 - 12.5) / WEEK, 2)


def test_an_unfinished_run_of_the_nights_is_measured_again_from_its_start(
    recorded: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bench import pipeline

    night = pipeline.END
    history_root, empty_root = tmp_path / "history", tmp_path / "empty"
    outputs = history_root / "warehouse" / night.isoformat()
    calls: list[tuple[str, str, str | None, bool]] = []

    def run_step(step: str, env: dict[str, str], date: object, until: object = None) -> dict[str, float]:
        root = Path(env["SEMAFORO_DATA_ROOT"])
        # Whether the night's outputs of an earlier run were in that root when this step started.
        there = (root / "warehouse" / night.isoformat()).exists()
        calls.append((root.name, step, env.get("SEMAFORO_PUBLICATION_REFRESH_DAYS"), there))
        (root / "warehouse" / night.isoformat()).mkdir(parents=True, exist_ok=True)
        return {"seconds": 2.0, "peak_mib": 5.0}

    monkeypatch.setattr(pipeline, "_run_step", run_step)
    progress = pipeline.Progress(recorded, resume=True, rerun_from=None)
    progress.phases["nights"].append({"on_history": {"extract": {"seconds": 9.0, "peak_mib": 1.0}}})  # cut short
    outputs.mkdir(parents=True)  # what the run cut short left
    (empty_root / "warehouse" / night.isoformat()).mkdir(parents=True)  # and the first run's empty night
    runs = pipeline.measure_nights(progress, 3, {}, history_root, empty_root, night)

    assert len(runs) == 3 and runs[0]["on_history"]["extract"]["seconds"] == 1.0  # the first run is kept
    assert [(root, step) for root, step, _, _ in calls] == [
        *[("history", step) for step in STEPS],
        *[("empty", step) for step in STEPS],
    ] * 2  # the second run whole, then the third, each pair back to back; the cut night only in the first
    assert all(days is None for _, _, days, _ in calls)
    # Each night starts from the history alone, or from an empty root.
    assert [there for _, step, _, there in calls if step == STEPS[0]] == [False] * 4
    assert jsonio.read_json(recorded)["nights"] == runs


def test_the_first_run_measures_the_cut_night_after_the_night_on_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(REPO))
    from bench import pipeline

    calls: list[tuple[str, str, str | None]] = []

    def run_step(step: str, env: dict[str, str], date: object, until: object = None) -> dict[str, float]:
        calls.append((Path(env["SEMAFORO_DATA_ROOT"]).name, step, env.get("SEMAFORO_PUBLICATION_REFRESH_DAYS")))
        return {"seconds": 1.0, "peak_mib": 1.0}

    monkeypatch.setattr(pipeline, "_run_step", run_step)
    progress = pipeline.Progress(tmp_path / "progress.json", resume=False, rerun_from=None)
    runs = pipeline.measure_nights(progress, 1, {}, tmp_path / "history", tmp_path / "empty", pipeline.END)
    assert calls == [
        *[("history", step, None) for step in STEPS],
        *[("empty", step, None) for step in STEPS],
        ("history", "publish", "0"),
    ]
    assert pipeline.nightly(runs)["cut_night_publish"] == {"seconds": 1.0, "peak_mib": 1.0}
