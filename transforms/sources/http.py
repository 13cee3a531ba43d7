"""An HTTP client for flaky government APIs: timeouts, bounded retries with backoff and jitter, ``Retry-After``."""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from transforms.errors import SourceError

log = logging.getLogger(__name__)
RETRY_STATUSES = {404, 408, 425, 429, 500, 502, 503, 504}


@dataclass
class Fetched:
    """One successful response: its URL, raw bytes and parsed JSON."""

    url: str
    body: bytes
    data: Any
    attempts: int


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time())


class RetryingClient:
    """GET JSON with retries; a body that is not valid JSON (a truncated page) is retried too."""

    def __init__(
        self,
        *,
        timeout: float = 30.0,
        attempts: int = 6,
        backoff: float = 0.2,
        max_backoff: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.client = httpx.Client(timeout=timeout, headers={"User-Agent": "semaforo/0.1 (+open contracting)"})
        self.attempts = attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.retries = 0

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()

    def __enter__(self) -> RetryingClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _wait(self, attempt: int, hint: float | None) -> None:
        # Full jitter (AWS architecture blog): a random wait up to the exponential cap spreads retries out.
        delay = hint if hint is not None else self.rng.uniform(0, min(self.max_backoff, self.backoff * 2**attempt))
        self.retries += 1
        self.sleep(delay)

    def get_json(self, url: str, params: dict[str, Any] | None = None) -> Fetched:
        """GET ``url`` and parse its JSON body, retrying transient failures."""
        problem = ""
        for attempt in range(self.attempts):
            hint = None
            try:
                response = self.client.get(url, params=params)
            except httpx.TransportError as exc:  # refused, reset, timed out, body cut short
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 200:
                    try:
                        return Fetched(
                            str(response.url), response.content, orjson.loads(response.content), attempt + 1
                        )
                    except orjson.JSONDecodeError as exc:
                        problem = f"invalid JSON ({exc})"
                elif response.status_code in RETRY_STATUSES:
                    problem = f"HTTP {response.status_code}"
                    hint = _retry_after(response)
                else:
                    raise SourceError(
                        f"GET {response.url} answered HTTP {response.status_code}: {response.text[:200]}"
                    )
            log.warning("GET %s failed (%s); attempt %d of %d", url, problem, attempt + 1, self.attempts)
            if attempt + 1 < self.attempts:
                self._wait(attempt, hint)
        raise SourceError(f"GET {url} failed after {self.attempts} attempts; last problem: {problem}")
