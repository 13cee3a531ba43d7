from __future__ import annotations

import subprocess
import sys

import pytest

from transforms.cli import build_parser, main

COMMANDS = [
    ["demo"],
    ["simulate"],
    ["simulate", "write"],
    ["simulate", "store"],
    ["simulate", "serve"],
    ["run"],
    ["compile"],
    ["validate"],
    ["indicators"],
    ["convert"],
    ["convert", "compranet"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_subcommand_has_help(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: semaforo" in capsys.readouterr().out


def test_parser_lists_every_command() -> None:
    help_text = build_parser().format_help()
    for command in {c[0] for c in COMMANDS}:
        assert command in help_text


def test_console_script_reports_errors_in_one_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {"PATH": "", "SEMAFORO_DATA_ROOT": str(tmp_path), "SEMAFORO_BOGUS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "transforms.cli", "validate", "x.json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("semaforo: error: unknown setting(s) SEMAFORO_BOGUS")
    assert "Traceback" not in result.stderr


def test_simulate_store_writes_a_universe_folder(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    from transforms.sources.simulator import SimulationConfig, simulate
    from transforms.sources.universe_files import StoredUniverse

    out = tmp_path / "universe"
    args = ["--procedures", "60", "--seed", "5", "--start", "2026-09-01", "--end", "2026-09-30"]
    assert main(["simulate", "store", *args, "--out", str(out)]) == 0
    stored = StoredUniverse.open(out)
    expected = simulate(SimulationConfig(seed=5, procedures=60, start=stored.config.start, end=stored.config.end))
    assert stored.count() == expected.count()
    assert f"wrote {sum(expected.count().values()):,} stage records" in capsys.readouterr().out


def test_serving_a_folder_that_is_no_universe_is_one_clear_error(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    assert main(["simulate", "serve", "--universe", str(tmp_path), "--port", "0"]) == 2
    assert "holds no simulated universe" in capsys.readouterr().err


def test_only_run_imports_the_pipeline() -> None:
    # Start-up is most of a short `semaforo validate`: the pipeline (DuckDB, Arrow…) and httpx stay unimported.
    code = (
        "import sys; from transforms.cli import build_parser; build_parser().parse_args(['validate', 'x.jsonl']); "
        "import transforms.ocds.validate, transforms.ocds.bulk, transforms.ocds.schema; "
        "print(sorted(m for m in ('transforms.pipeline', 'httpx', 'duckdb', 'pyarrow') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["run", "no-such-step", "--date", "2026-01-01"])
    assert exit_info.value.code == 2
    assert build_parser().parse_args(["run", "publish", "--date", "2026-01-01"]).step == "publish"
