"""Bounded load test of the genre API on loopback: N requests at concurrency C, latency percentiles.

    python bench/load.py [--requests 200] [--concurrency 8] [--seconds 6] [--model default]
                         [--workers 2] [--url http://127.0.0.1:PORT]

Without ``--url`` the app is started in this process on 127.0.0.1 (a free port) and stopped
at the end. Only loopback URLs are accepted. Every request uploads the same synthetic clip
(multipart). Exits 1 if any response is a 5xx.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import ipaddress
import statistics
import sys
import time
from collections import Counter
from contextlib import nullcontext
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
import numpy as np
import soundfile as sf

from genrelab import synth


@dataclass
class LoadReport:
    statuses: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies, q))

    def summary(self) -> str:
        n = len(self.latencies)
        return (
            f"{n} requests in {self.wall_s:.1f} s ({n / self.wall_s:.1f} req/s); "
            f"statuses {dict(sorted(self.statuses.items()))}; latency p50 "
            f"{self.percentile(50):.3f} s, p95 {self.percentile(95):.3f} s, "
            f"max {max(self.latencies):.3f} s, mean {statistics.fmean(self.latencies):.3f} s"
        )


def require_loopback(url: str) -> None:
    host = urlsplit(url).hostname or ""
    if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
        raise SystemExit(f"refusing to load-test {host}: only loopback addresses")


def clip_wav(seconds: float, seed: int = 0) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, synth.song(seconds, style="rock", seed=seed), 22050, format="WAV")
    return buf.getvalue()


async def hammer(url: str, payload: bytes, requests: int, concurrency: int) -> LoadReport:
    """POST ``payload`` to ``url``/v1/classify ``requests`` times, ``concurrency`` at once."""
    require_loopback(url)
    report = LoadReport()
    slots = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency)

    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as client:

        async def one() -> None:
            async with slots:
                started = time.perf_counter()
                response = await client.post(
                    "/v1/classify", files={"file": ("clip.wav", payload, "audio/wav")}
                )
                report.latencies.append(time.perf_counter() - started)
                report.statuses[response.status_code] += 1

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(requests)))
        report.wall_s = time.perf_counter() - started
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=6.0, help="length of the uploaded clip")
    parser.add_argument("--model", default="default")
    parser.add_argument("--workers", type=int, default=2, help="service worker threads")
    parser.add_argument("--url", help="an already running service on loopback")
    args = parser.parse_args()

    if args.url:
        require_loopback(args.url)
        serving = nullcontext(args.url)
    else:
        from genrelab.service import ServiceSettings, background_server, create_app

        settings = ServiceSettings(workers=args.workers)
        serving = background_server(create_app(args.model, settings))
    payload = clip_wav(args.seconds)
    with serving as url:
        with httpx.Client(base_url=url) as client:  # waits out the warm-up before timing
            client.post("/v1/classify", files={"file": ("clip.wav", payload)}, timeout=300)
        report = asyncio.run(hammer(url, payload, args.requests, args.concurrency))
    print(
        f"{args.seconds:g} s clip, model {args.model}, concurrency {args.concurrency}: "
        + report.summary()
    )
    return 1 if report.server_errors else 0


if __name__ == "__main__":
    sys.exit(main())
