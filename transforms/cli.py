"""The ``semaforo`` command: a thin layer over the library; domain errors become one clear message (exit 2)."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transforms.errors import SemaforoError

DEMO_END = dt.date(2026, 11, 20)


def _settings(**overrides: Any) -> Any:
    from transforms.settings import load_settings

    return load_settings(**{k: v for k, v in overrides.items() if v is not None})


def cmd_demo(args: argparse.Namespace) -> int:
    from transforms.demo import run_demo

    run_demo(_settings(), days=args.days, procedures=args.procedures, seed=args.seed, end=args.end)
    return 0


def _sim_config(args: argparse.Namespace) -> Any:
    from transforms.sources.simulator import SimulationConfig

    return SimulationConfig(seed=args.seed, procedures=args.procedures, start=args.start, end=args.end)


def cmd_simulate_write(args: argparse.Namespace) -> int:
    from transforms.sources.contratos_writer import write_all
    from transforms.sources.simulator import simulate

    print(f"simulating {args.procedures:,} procedures ({args.start} → {args.end}, seed {args.seed})", flush=True)
    summary = write_all(simulate(_sim_config(args)), Path(args.out))
    print(f"wrote {sum(summary['stages'].values()):,} stage records to {args.out}: {summary['stages']}")
    for layout, written in summary["contratos"].items():
        print(f"wrote {written['rows']:,} Contratos rows in layout {layout}: {written['file']}")
    print(f"ground truth: {summary['ground_truth']:,} planted patterns; {summary['suppliers']:,} suppliers")
    return 0


def cmd_simulate_store(args: argparse.Namespace) -> int:
    from transforms.sources.universe_files import write_universe

    print(f"simulating {args.procedures:,} procedures ({args.start} → {args.end}, seed {args.seed})", flush=True)
    universe = write_universe(_sim_config(args), Path(args.out))
    counts = universe.count()
    print(f"wrote {sum(counts.values()):,} stage records to {args.out}: {counts}")
    print(f"ground truth: {len(universe.ground_truth):,} planted patterns; {len(universe.suppliers):,} suppliers")
    return 0


def cmd_simulate_serve(args: argparse.Namespace) -> int:
    from transforms.sources.simulator import simulate
    from transforms.sources.stage_api import Faults, StageServer
    from transforms.sources.universe_files import StoredUniverse

    faults = Faults(
        error_rate=args.error_rate,
        truncate_rate=args.truncate_rate,
        throttle_rate=args.throttle_rate,
        latency=args.latency,
    )
    universe = StoredUniverse.open(Path(args.universe)) if args.universe else simulate(_sim_config(args))
    server = StageServer(universe, host=args.host, port=args.port, faults=faults)
    print(f"serving the stage API at {server.url}/api/v1/<stage> (Ctrl-C to stop)", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


def _interval(args: argparse.Namespace) -> Any:
    from transforms.intervals import Interval

    first = Interval.for_day(args.date)
    if getattr(args, "until", None) is None:
        return first
    if args.until < args.date:
        raise SemaforoError(f"--until {args.until} is before --date {args.date}")
    return Interval(first.start, Interval.for_day(args.until).end)


def cmd_run(args: argparse.Namespace) -> int:
    from transforms import jsonio
    from transforms.pipeline import STEP_FUNCTIONS, run_interval, run_report

    settings, interval = _settings(source_url=args.source_url), _interval(args)
    if args.step == "all":
        run_interval(settings, interval)
        report = run_report(settings, interval)
    else:
        report = STEP_FUNCTIONS[args.step](settings, interval)
        run_report(settings, interval)
    sys.stdout.write(jsonio.dumps(report).decode() + "\n")
    return 0


def cmd_compile(args: argparse.Namespace) -> int:
    from transforms.ocds.schema import release_schema

    schema = release_schema(_settings())
    out = sys.stdout.buffer
    if args.records:
        from transforms import jsonio
        from transforms.ocds.compile import record_package
        from transforms.ocds.validate import iter_documents

        package = record_package(
            (document for path in args.files for document in iter_documents(Path(path))),
            schema,
            uri=args.uri,
            published_date=args.published_date,
            versioned=args.versioned,
            linked_releases=args.linked_releases,
        )
        out.write(jsonio.dumps(package) + b"\n")
        return 0
    from transforms.ocds import bulk

    # Bounded memory, every core: partition by ocid on disk, compile the parts in worker processes, merge.
    try:
        bulk.compile_files([Path(p) for p in args.files], schema, out, versioned=args.versioned)
    except ValueError as exc:  # invalid JSON or a release without an ocid
        raise SemaforoError(f"cannot compile: {exc}") from exc
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from transforms import jsonio
    from transforms.ocds.validate import validate_files

    report = validate_files(_settings(), [Path(p) for p in args.files])
    print(report.format())
    if args.json:
        jsonio.write_json(Path(args.json), report.to_dict())
    return 0 if report.ok else 1


def cmd_indicators(args: argparse.Namespace) -> int:
    from models.indicators import cardinal, flag_rows, run
    from transforms import jsonio
    from transforms.errors import SourceError

    settings = cardinal.load_settings(Path(args.settings)) if args.settings else None
    try:
        # Streamed: only the observations of each release are kept, so memory follows them, not the file.
        report = run(jsonio.read_jsonl(Path(args.file)), settings)
    except (OSError, ValueError) as exc:  # missing file or a line that is not JSON
        raise SourceError(f"cannot read compiled releases from {args.file}: {exc}") from None
    if args.format == "cardinal":
        sys.stdout.write(jsonio.dumps(cardinal.results(report, meta=not args.no_meta)).decode() + "\n")
    else:
        for flag in flag_rows(report):
            sys.stdout.write(jsonio.dumps(flag).decode() + "\n")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from transforms.sources.compranet_csv import convert

    summary = convert([Path(p) for p in args.files], Path(args.out), _settings().ocid_prefix)
    for counts in summary["files"]:
        print(
            f"{counts['file']}: layout {counts['layout']}, {counts['rows']} rows → {counts['releases']} releases, "
            f"{counts['quarantined']} quarantined"
        )
    totals = summary["totals"]
    print(f"total: {totals['rows']} rows → {totals['releases']} releases + {totals['quarantined']} quarantined")
    print(f"wrote {Path(args.out) / 'releases.jsonl'} and {Path(args.out) / 'quarantine.jsonl'}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from transforms.site import serve

    folder = Path(args.folder) if args.folder else _settings().data_root / "publish" / "latest"
    if not (folder / "index.html").is_file():
        raise SemaforoError(f"{folder} holds no publication (index.html); run `make demo` or the publish step first")
    print(f"serving {folder} at http://{args.host}:{args.port}/ (Ctrl-C to stop)", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        serve(folder, host=args.host, port=args.port)
    return 0


def cmd_docs(args: argparse.Namespace) -> int:
    from transforms.docs import write_docs

    for path in write_docs(Path(args.out)):
        print(f"wrote {path}")
    return 0


class _Steps:
    """The ``run`` command's choices, read from the pipeline only when checked.

    Importing the pipeline takes over a second (DuckDB, Arrow, scikit-learn…); every other command would pay it.
    """

    def _names(self) -> list[str]:
        from transforms.pipeline import STEPS

        return [*STEPS, "all"]

    def __contains__(self, value: object) -> bool:
        return value in self._names()

    def __iter__(self) -> Any:
        return iter(self._names())


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from exc


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="semaforo",
        description="Open, valid and risk-scored public procurement data from CompraNet: OCDS 1.1, Parquet, DuckDB.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Callable[[argparse.Namespace], int], help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    def add_sim_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--seed", type=int, default=42, help="random seed (same seed, same universe)")
        p.add_argument("--procedures", type=int, default=6000, help="number of procedures")
        p.add_argument("--start", type=_date, default=DEMO_END - dt.timedelta(days=80), help="first publication date")
        p.add_argument("--end", type=_date, default=DEMO_END, help="last publication date")

    p = add("demo", cmd_demo, "simulate CompraNet, run the nightly DAG through Airflow, publish, print a summary")
    p.add_argument("--days", type=int, default=5, help="number of nightly intervals to run")
    p.add_argument("--procedures", type=int, default=6000, help="size of the simulated universe")
    p.add_argument("--seed", type=int, default=42, help="simulator seed")
    p.add_argument("--end", type=_date, default=DEMO_END, help="last interval to run (YYYY-MM-DD)")

    p = add("simulate", lambda a: 2, "write or serve a simulated CompraNet universe")
    sim = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    def add_sim(action: str, func: Callable[[argparse.Namespace], int], help_text: str) -> argparse.ArgumentParser:
        p = sim.add_parser(action, help=help_text, description=help_text)
        add_sim_args(p)
        p.set_defaults(func=func)
        return p

    w = add_sim("write", cmd_simulate_write, "write JSON Lines stage feeds and the ground truth")
    w.add_argument("--out", required=True, help="output folder")
    st = add_sim("store", cmd_simulate_store, "write a universe folder for the stage API (bounded memory, any size)")
    st.add_argument("--out", required=True, help="output folder (replaced)")
    s = add_sim("serve", cmd_simulate_serve, "serve the stage API over HTTP")
    s.add_argument("--universe", help="serve this folder from `simulate store` instead of simulating in memory")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8765)
    s.add_argument("--error-rate", type=float, default=0.0, help="share of requests answered 5xx")
    s.add_argument("--truncate-rate", type=float, default=0.0, help="share of responses cut short")
    s.add_argument("--throttle-rate", type=float, default=0.0, help="share of requests answered 429")
    s.add_argument("--latency", type=float, default=0.0, help="seconds added to every response")

    p = add("run", cmd_run, "run one pipeline step (or all) by hand for one interval")
    p.add_argument("step", choices=_Steps(), metavar="STEP", help="the step to run: %(choices)s")
    p.add_argument("--date", type=_date, required=True, help="interval key: the night's date (YYYY-MM-DD)")
    p.add_argument(
        "--until", type=_date, help="make the interval span every night up to this date (an initial history load)"
    )
    p.add_argument("--source-url", help="stage API base URL (default: SEMAFORO_SOURCE_URL)")

    p = add("compile", cmd_compile, "compile OCDS releases (JSON Lines or release packages) into compiled releases")
    p.add_argument("--versioned", action="store_true", help="write versioned releases (in records with --records)")
    p.add_argument("--records", action="store_true", help="write one record package instead of compiled releases")
    p.add_argument("--linked-releases", action="store_true", help="with --records: link releases by package URI")
    p.add_argument("--uri", default="", help="with --records: the record package's uri")
    p.add_argument("--published-date", default="", help="with --records: the record package's publishedDate")
    p.add_argument("files", nargs="+", help="release files (.json, .jsonl, .gz)")

    p = add("validate", cmd_validate, "validate releases, release packages or record packages against OCDS 1.1.5")
    p.add_argument("--json", help="also write the report as JSON to this path")
    p.add_argument("files", nargs="+", help="files to validate (.json, .jsonl, .gz)")

    p = add("indicators", cmd_indicators, "compute red flags from compiled releases (one per line)")
    p.add_argument(
        "--format", choices=["rows", "cardinal"], default="rows", help="flag rows as JSON Lines, or Cardinal's JSON"
    )
    p.add_argument("--settings", help="Cardinal INI settings (default: every indicator with its defaults)")
    p.add_argument("--no-meta", action="store_true", help="omit the Meta key (quartiles, fences) of --format cardinal")
    p.add_argument("file", help="compiled releases, JSON Lines")

    p = add("serve", cmd_serve, "serve a publication (its download page and files) over HTTP")
    p.add_argument("folder", nargs="?", help="publication folder (default: DATA_ROOT/publish/latest)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)

    p = add("docs", cmd_docs, "regenerate the documentation generated from code (mapping table …)")
    p.add_argument("--out", default="docs", help="output folder")

    p = add("convert", cmd_convert, "convert CompraNet bulk files to OCDS releases")
    conv = p.add_subparsers(dest="source", required=True, metavar="SOURCE")
    c = conv.add_parser(
        "compranet",
        help="CompraNet 'Contratos' CSV/XLSX files, any layout",
        description="CompraNet 'Contratos' CSV/XLSX files, any layout",
    )
    c.add_argument("files", nargs="+")
    c.add_argument("--out", required=True, help="output folder for releases.jsonl and quarantine.jsonl")
    c.set_defaults(func=cmd_convert)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``semaforo`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.func(args))
    except SemaforoError as exc:
        print(f"semaforo: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
