"""The download page in a real browser: headless Chromium, driven over the DevTools protocol, on a loopback server.

The DevTools client is a minimal RFC 6455 websocket client over the standard library (no new dependency): it sends
commands and collects events, which is how the test sees console messages and uncaught exceptions.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import socket
import struct
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import duckdb
import pytest

from transforms import site

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",  # Chromium picks a free port and writes it to DevToolsActivePort
    "--window-size=1280,1600",
]


class DevTools:
    """A DevTools protocol session over one websocket: ``call`` sends a command, events pile up in ``events``."""

    def __init__(self, url: str, timeout: float = 30) -> None:
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        response = b""
        while b"\r\n\r\n" not in response:
            response += self.sock.recv(1)
        assert response.startswith(b"HTTP/1.1 101"), response
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    def _exact(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                raise ConnectionError("DevTools closed the connection")
            data += chunk
        return data

    def _send(self, payload: bytes, opcode: int = 1) -> None:
        mask = os.urandom(4)
        size = len(payload)
        if size < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
        elif size < 1 << 16:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def _receive(self) -> dict[str, Any]:
        message = b""
        while True:
            first, second = self._exact(2)
            size = second & 0x7F
            if size == 126:
                size = struct.unpack("!H", self._exact(2))[0]
            elif size == 127:
                size = struct.unpack("!Q", self._exact(8))[0]
            payload = self._exact(size)  # servers never mask
            opcode = first & 0x0F
            if opcode == 9:  # ping
                self._send(payload, opcode=10)
                continue
            if opcode == 8:
                raise ConnectionError("DevTools closed the connection")
            message += payload
            if first & 0x80:  # final fragment
                return json.loads(message)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command and return its result, keeping the events that arrive meanwhile."""
        number = next(self.ids)
        self._send(json.dumps({"id": number, "method": method, "params": params}).encode())
        while True:
            message = self._receive()
            if message.get("id") == number:
                assert "error" not in message, message
                return message["result"]  # type: ignore[no-any-return]
            self.events.append(message)

    def wait_for(self, event: str, timeout: float = 30) -> dict[str, Any]:
        """Return the first event of a kind (already received or next to arrive)."""
        deadline = time.monotonic() + timeout
        while True:
            for message in self.events:
                if message.get("method") == event:
                    return message
            assert time.monotonic() < deadline, f"no {event} within {timeout}s"
            self.events.append(self._receive())

    def evaluate(self, expression: str) -> Any:
        """Evaluate JavaScript in the page and return its value."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    def until(self, expression: str, timeout: float = 20) -> Any:
        """Poll a JavaScript expression until it is truthy; return its value."""
        deadline = time.monotonic() + timeout
        while not (value := self.evaluate(expression)):
            assert time.monotonic() < deadline, f"{expression} stayed falsy for {timeout}s"
            time.sleep(0.1)
        return value

    def errors(self) -> list[dict[str, Any]]:
        """Return the console errors, uncaught exceptions and error log entries seen so far."""
        found = []
        for message in self.events:
            method, params = message.get("method"), message.get("params", {})
            thrown = method == "Runtime.exceptionThrown"
            console = method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert")
            logged = method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error"
            if thrown or console or logged:
                found.append(params)
        return found

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium, installed with apt-get when absent."""
    if not CHROMIUM.exists():
        if shutil.which("apt-get") is None or os.geteuid() != 0:
            pytest.skip("Chromium is absent and cannot be installed here (needs apt-get as root)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], check=True, env=env, capture_output=True)
    return CHROMIUM


@pytest.fixture
def served(dag_run) -> Iterator[tuple[str, Path]]:  # type: ignore[no-untyped-def]
    folder = dag_run[0].data_root / "publish" / "latest"
    server = site.make_server(folder, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", folder
    server.shutdown()
    server.server_close()


@pytest.fixture
def browser(chromium: Path, tmp_path: Path) -> Iterator[DevTools]:
    profile = tmp_path / "profile"  # a fresh profile every time
    process = subprocess.Popen(
        [str(chromium), *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        active = profile / "DevToolsActivePort"
        while not (active.exists() and active.read_text().count("\n") >= 1):
            assert process.poll() is None, "Chromium exited at start"
            assert time.monotonic() < deadline, "Chromium opened no DevTools port"
            time.sleep(0.1)
        port = active.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
            targets = json.load(response)
        page = next(t for t in targets if t["type"] == "page")
        devtools = DevTools(page["webSocketDebuggerUrl"])
        for domain in ("Page", "Runtime", "Log"):
            devtools.call(f"{domain}.enable")
        yield devtools
        devtools.close()
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=30)


def _screenshot(browser: DevTools, path: Path) -> None:
    """Save the whole page as a PNG (a test artifact, git-ignored)."""
    size = browser.call("Page.getLayoutMetrics")["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 8000), "scale": 1}
    shot = browser.call("Page.captureScreenshot", format="png", captureBeyondViewport=True, clip=clip)
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))


def _flagged_ocid(folder: Path) -> str:
    with duckdb.connect(str(folder / "semaforo.duckdb"), read_only=True) as con:
        row = con.execute("SELECT min(ocid) FROM out_flags WHERE unit = 'process'").fetchone()
    assert row and row[0], "the publication has no process flag to look up"
    return str(row[0])


def test_page_loads_links_resolve_charts_render_and_lookup_finds_a_process(
    served: tuple[str, Path], browser: DevTools
) -> None:
    base, folder = served
    ocid = _flagged_ocid(folder)
    browser.call("Page.navigate", url=f"{base}/index.html#ocid={ocid}")
    browser.wait_for("Page.loadEventFired")

    # The lookup from the URL fragment fetches one shard and shows the process with its flags.
    assert (
        browser.until(
            "document.getElementById('lookup-result').dataset.state !== 'idle' && "
            "document.getElementById('lookup-result').dataset.state !== 'loading' && "
            "document.getElementById('lookup-result').dataset.state"
        )
        == "found"
    )
    shown = browser.evaluate("document.getElementById('lookup-result').innerText")
    assert ocid in shown and "Banderas rojas" in shown
    _screenshot(browser, ARTIFACTS / "publication-page.png")

    # Charts are inline SVG with bars, titled for screen readers.
    charts = browser.evaluate(
        "[...document.querySelectorAll('figure svg[role=img]')].map(s => [s.getAttribute('aria-labelledby'), "
        "s.querySelectorAll('rect').length, s.getBoundingClientRect().width])"
    )
    assert len(charts) == 4
    assert all(label and bars > 0 and width > 100 for label, bars, width in charts), charts

    # Every download link answers 200, and every published file has a link.
    links = browser.evaluate("[...document.querySelectorAll('a[data-download]')].map(a => a.href)")
    published = {p.relative_to(folder.resolve()).as_posix() for p in folder.resolve().rglob("*") if p.is_file()}
    linked = {urlsplit(link).path.lstrip("/") for link in links}
    assert linked == published - {"index.html"}
    for link in links:
        request = urllib.request.Request(link, method="HEAD")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200, link

    # The form works from the keyboard: Tab reaches the skip link first; a search for an unknown OCID says so.
    for kind in ("keyDown", "keyUp"):
        browser.call("Input.dispatchKeyEvent", type=kind, key="Tab", code="Tab", windowsVirtualKeyCode=9)
    assert browser.evaluate("document.activeElement.className") == "skip"
    browser.evaluate(
        "document.getElementById('ocid').value = 'ocds-nada-0'; document.getElementById('lookup-form').requestSubmit()"
    )
    assert (
        browser.until(
            "['missing', 'error'].includes(document.getElementById('lookup-result').dataset.state) && "
            "document.getElementById('lookup-result').dataset.state"
        )
        == "missing"
    )

    assert browser.errors() == []


def test_page_works_without_javascript(served: tuple[str, Path], browser: DevTools) -> None:
    base = served[0]
    browser.call("Emulation.setScriptExecutionDisabled", value=True)
    browser.call("Page.navigate", url=f"{base}/index.html")
    browser.wait_for("Page.loadEventFired")
    assert browser.evaluate("document.documentElement.lang") == "es"
    # Without JavaScript the search form stays hidden, the note says why, and the downloads and charts are there.
    assert browser.evaluate("document.getElementById('lookup-form').hidden") is True
    assert browser.evaluate("document.querySelectorAll('a[data-download]').length") > 10
    assert browser.evaluate("document.querySelectorAll('figure svg rect').length") > 0
    assert browser.errors() == []
