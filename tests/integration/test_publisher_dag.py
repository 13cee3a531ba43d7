"""The DAG factory: a publisher configured in a JSON file becomes a DAG that runs the whole pipeline on its data."""

from __future__ import annotations

import datetime as dt
import http.server
import threading
from typing import ClassVar
from urllib.parse import parse_qs, urlparse

import orjson
import pytest

from transforms import jsonio
from transforms.airflow_env import run_dag
from transforms.intervals import Interval
from transforms.ocds.mapping import to_releases
from transforms.ocds.validate import Validator
from transforms.settings import load_settings
from transforms.sources.simulator import STAGES

NIGHT = "2026-11-09"


class _Publisher(http.server.BaseHTTPRequestHandler):
    """Release packages paged with page/pageSize/total, filtered on the release date."""

    releases: ClassVar[list[dict]] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        query = {k: v[-1] for k, v in parse_qs(urlparse(self.path).query).items()}
        since, until = (dt.datetime.fromisoformat(query[k]) for k in ("since", "until"))
        chosen = [r for r in self.releases if since <= dt.datetime.fromisoformat(r["date"]) < until]
        page, size = int(query["page"]), int(query["pageSize"])
        body = orjson.dumps(
            {
                "uri": "https://example.org/p",
                "publisher": {"name": "Publicador de prueba"},
                "version": "1.1",
                "publishedDate": "2026-11-10T00:00:00Z",
                "releases": chosen[(page - 1) * size : page * size],
                "pagination": {"total": len(chosen)},
            }
        )
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def publisher_run(tmp_path_factory, small_universe, ocds_dir):  # type: ignore[no-untyped-def]
    releases, _ = to_releases([(s, r) for s in STAGES for r in small_universe.records[s]], "ocds-pub001")
    _Publisher.releases = releases
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Publisher)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    root = tmp_path_factory.mktemp("publisher")
    config = root / "publishers.json"
    jsonio.write_json(
        config,
        {
            "publishers": [
                {
                    "name": "prueba",
                    "url": f"http://127.0.0.1:{server.server_port}/releases",
                    "kind": "release_package",
                    "paging": "page",
                    "page_size": 25,
                    "total": "/pagination/total",
                    "since_param": "since",
                    "until_param": "until",
                }
            ]
        },
    )
    settings = load_settings(data_root=root / "data", ocds_schema_dir=ocds_dir, publishers_file=config)
    try:
        result = run_dag(settings, [NIGHT], "ocds_prueba", {"SEMAFORO_PUBLISHERS_FILE": str(config)})
    finally:
        server.shutdown()
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    interval = Interval.for_day(NIGHT, hour=4)  # the publisher's schedule runs at 04:00
    expected = [r for r in releases if interval.contains(dt.datetime.fromisoformat(r["date"]))]
    return settings, expected


def test_publisher_dag_lands_every_release_once(publisher_run) -> None:  # type: ignore[no-untyped-def]
    settings, expected = publisher_run
    tree = settings.data_root / "publishers" / "prueba"
    report = jsonio.read_json(tree / "reports" / NIGHT / "run.json")
    assert report["complete"], report
    assert report["steps"]["extract"]["records_in"] == len(expected) > 25  # several pages
    assert report["steps"]["normalize"]["releases_out"] == len(expected)


def test_publisher_publication_validates(publisher_run) -> None:  # type: ignore[no-untyped-def]
    settings, expected = publisher_run
    folder = settings.data_root / "publishers" / "prueba" / "publish" / NIGHT
    records = list(jsonio.read_jsonl(next(folder.glob("records*.jsonl.gz"))))
    assert Validator(settings, "record-package-schema.json").check(records).ok
    assert {r["ocid"] for p in records for r in p["records"]} == {r["ocid"] for r in expected}
