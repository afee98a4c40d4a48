"""Benchmark harness: measure, print, and keep the figures in docs/benchmarks.md.

Each suite owns one section of docs/benchmarks.md (between marker comments), so running one suite
rewrites only its own figures. Every figure is printed beside the baseline measured in the same run.

HTTP figures share one way of measuring (used by bench/cases.py and bench/open311.py):

- ``serve`` starts a server process (``cityops serve``, or a suite's bare FastAPI baseline) and
  waits for ``/healthz``; ``Server.peak_rss_mib`` reads its peak RSS; it is stopped with SIGINT
  (uvicorn's clean shutdown) and killed if it does not stop.
- ``load`` drives a server from a **separate process** (``python -m bench.harness load PLAN``,
  its own interpreter, so it does not share the server's GIL): ``clients`` HTTP/1.1 keep-alive
  connections kept busy from asyncio for a fixed time after a warm-up, the requests written to
  the sockets directly (a few tens of µs of client CPU per request: client and server share the
  machine's cores, and a heavier client takes CPU from the server under test); ``client="httpx"``
  drives the same plan through ``httpx.AsyncClient``. It reports requests/s and latencies.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
CLIENTS = 16
HEADER = """# Benchmarks

Figures written by the benchmark suites in `bench/` (each suite rewrites its own section).
Targets are checked here, never in unit tests. Every figure is measured beside a baseline in the
same run on the same machine.
"""


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem_gib:.0f} GiB RAM, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    baseline: str = ""
    target: str = ""
    met: bool | None = None
    note: str = ""

    def row(self) -> str:
        status = {True: "met", False: "**missed**", None: ""}[self.met]
        value = f"{self.value:,.0f}" if self.value >= 100 else f"{self.value:,.2f}"
        return (
            f"| {self.name} | {value} {self.unit} | {self.baseline} | {self.target} | "
            f"{status} | {self.note} |"
        )


@dataclass
class Suite:
    name: str
    description: str
    figures: list[Figure] = field(default_factory=list)

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        print(f"  {figure.name}: {figure.value:,.2f} {figure.unit}  {figure.baseline}", flush=True)
        return figure

    def render(self) -> str:
        lines = [
            f"## {self.name}",
            "",
            self.description,
            "",
            f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}; "
            f"peak RSS of the benchmark process {peak_rss_mib():.0f} MiB.",
            "",
            "| measure | value | baseline (same run) | target | | note |",
            "|---|---|---|---|---|---|",
            *(f.row() for f in self.figures),
        ]
        return "\n".join(lines) + "\n"

    def write(self, doc: Path = DOC) -> None:
        start, end = f"<!-- suite:{self.name} -->", f"<!-- /suite:{self.name} -->"
        text = doc.read_text(encoding="utf-8") if doc.exists() else HEADER
        block = f"{start}\n{self.render()}{end}"
        if start in text and end in text:
            before, rest = text.split(start, 1)
            _, after = rest.split(end, 1)
            text = before + block + after
        else:
            text = text.rstrip() + "\n\n" + block + "\n"
        doc.parent.mkdir(parents=True, exist_ok=True)
        doc.write_text(text, encoding="utf-8")


def timed(fn: Callable[[], object], repeat: int = 5) -> list[float]:
    """Wall-clock seconds of ``repeat`` calls (after one warm-up call)."""
    fn()
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def percentile(samples: Sequence[float], p: float) -> float:
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[int(p) - 1]


# --- servers ---------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    base: str
    port: int
    proc: subprocess.Popen[bytes]

    def peak_rss_mib(self) -> float:
        """The server process's peak resident memory (VmHWM) so far."""
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0


@contextmanager
def serve(
    cmd: list[str], env: dict[str, str], port: int, *, start_s: float = 120
) -> Iterator[Server]:
    """A server process answering ``/healthz`` on ``port``; stdout (uvicorn's access log) to
    /dev/null, as a service would log to a file; stopped with SIGINT (uvicorn's clean shutdown)."""
    import httpx

    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=errors)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + start_s
            while True:
                try:
                    if httpx.get(f"{base}/healthz", timeout=5).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    errors.seek(0)
                    raise RuntimeError(f"{cmd} did not start: {errors.read().decode()[-3000:]}")
                time.sleep(0.2)
            yield Server(base, port, proc)
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def serve_cityops(env: dict[str, str]) -> Any:
    """`cityops serve` (the console script's module, as shipped) on a free port; ``env`` holds
    the CITYOPS_* settings (database URL, data directory, secret)."""
    port = free_port()
    cmd = [sys.executable, "-m", "cityops.cli", "serve", "--port", str(port)]
    return serve(cmd, {**os.environ, **env}, port)


def uvicorn_options() -> dict[str, Any]:
    """The event loop and HTTP parser `cityops serve` runs with (cityops.settings), for bare
    baselines: the same server stack, so the baseline is the floor of HTTP + framework."""
    from cityops.api.server import uvicorn_options as of_cityops

    return of_cityops()


# --- the load generator (its own process) ------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    method: str
    path: str  # with the query string
    body: str = ""
    content_type: str = "application/x-www-form-urlencoded"
    headers: tuple[tuple[str, str], ...] = ()

    def raw(self, host: str) -> bytes:
        head = f"{self.method} {self.path} HTTP/1.1\r\nHost: {host}\r\nAccept: */*\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in self.headers)
        if self.method == "POST":
            data = self.body.encode()
            head += f"Content-Type: {self.content_type}\r\nContent-Length: {len(data)}\r\n"
            return (head + "\r\n").encode() + data
        return (head + "\r\n").encode()


@dataclass
class Load:
    rps: float
    latencies: list[float]  # seconds
    errors: int
    sample_error: str
    bytes_per_response: float

    def ms(self, p: float) -> float:
        return percentile(self.latencies, p) * 1000

    def summary(self) -> str:
        return (
            f"{self.rps:,.0f} req/s, p50 {self.ms(50):.1f} ms, p95 {self.ms(95):.1f} ms, "
            f"p99 {self.ms(99):.1f} ms"
        )


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, connection kept) of one HTTP/1.1 response."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    keep = b"connection: close" not in lower
    at = lower.find(b"content-length:")
    if at >= 0:
        length = int(lower[at + 15 : lower.index(b"\r\n", at)])
        return status, await reader.readexactly(length), keep
    if b"transfer-encoding: chunked" in lower:
        parts: list[bytes] = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":
                    pass  # trailers
                return status, b"".join(parts), keep
            parts.append((await reader.readexactly(size + 2))[:-2])
    return status, await reader.read(), False


class _Tally:
    """The bookkeeping both load clients share: calls in turn, the warm-up left out, and the
    latencies, sizes and errors of what was measured."""

    def __init__(self, calls: int, warmup: float, seconds: float) -> None:
        self.order = iter(range(10**12))
        self.calls = calls
        t0 = time.perf_counter()
        self.measure_from, self.stop_at = t0 + warmup, t0 + warmup + seconds
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.size = 0
        self.last = self.measure_from

    def next_call(self) -> int | None:
        """The index of the next call to send, or None once the time is up."""
        return None if time.perf_counter() >= self.stop_at else next(self.order) % self.calls

    def record(self, start: float, status: int, body: bytes) -> None:
        done = time.perf_counter()
        if start < self.measure_from:
            return
        self.latencies.append(done - start)
        self.size += len(body)
        self.last = max(self.last, done)
        if status >= 300:
            self.errors.append(f"{status} {body[:300].decode(errors='replace')}")

    def result(self) -> dict[str, Any]:
        took = self.last - self.measure_from
        return {
            "rps": len(self.latencies) / took if took > 0 else 0.0,
            "latencies": self.latencies,
            "errors": len(self.errors),
            "sample_error": self.errors[0] if self.errors else "",
            "bytes": self.size / max(len(self.latencies), 1),
        }


async def _drive_raw(
    host: str, port: int, calls: list[Call], clients: int, warmup: float, seconds: float
) -> dict[str, Any]:
    raw = [c.raw(f"{host}:{port}") for c in calls]
    tally = _Tally(len(raw), warmup, seconds)

    async def client() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while (i := tally.next_call()) is not None:
                start = time.perf_counter()
                writer.write(raw[i])
                status, body, keep = await _read_response(reader)
                tally.record(start, status, body)
                if not keep:
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    return tally.result()


async def _drive_httpx(
    host: str, port: int, calls: list[Call], clients: int, warmup: float, seconds: float
) -> dict[str, Any]:
    import httpx

    tally = _Tally(len(calls), warmup, seconds)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=f"http://{host}:{port}", limits=limits, timeout=60
    ) as http:

        async def client() -> None:
            while (i := tally.next_call()) is not None:
                start = time.perf_counter()
                call = calls[i]
                headers = dict(call.headers)
                if call.method == "POST":
                    headers["Content-Type"] = call.content_type
                    r = await http.post(call.path, content=call.body, headers=headers)
                else:
                    r = await http.get(call.path, headers=headers)
                tally.record(start, r.status_code, r.content)

        await asyncio.gather(*(client() for _ in range(clients)))
    return tally.result()


def _load_main(plan_file: str) -> None:
    plan = json.loads(Path(plan_file).read_text("utf-8"))
    calls = [Call(**{**c, "headers": tuple(tuple(h) for h in c["headers"])}) for c in plan["calls"]]
    drive = _drive_httpx if plan["client"] == "httpx" else _drive_raw
    result = asyncio.run(
        drive("127.0.0.1", plan["port"], calls, plan["clients"], plan["warmup"], plan["seconds"])
    )
    sys.stdout.write(json.dumps(result))


def load(
    server: Server,
    calls: Sequence[Call],
    *,
    seconds: float,
    warmup: float,
    client: str = "raw",
    clients: int = CLIENTS,
) -> Load:
    """``clients`` concurrent connections against ``server`` from a separate process, cycling
    through ``calls``: ``warmup`` s unmeasured, then ``seconds`` s measured."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(
            {
                "port": server.port,
                "calls": [asdict(c) for c in calls],
                "clients": clients,
                "warmup": warmup,
                "seconds": seconds,
                "client": client,
            },
            f,
        )
    try:
        out = subprocess.run(
            [sys.executable, "-m", "bench.harness", "load", f.name],
            cwd=ROOT,
            check=True,
            capture_output=True,
            timeout=warmup + seconds + 300,
        )
    finally:
        os.unlink(f.name)
    r = json.loads(out.stdout)
    if not r["latencies"]:
        raise RuntimeError(f"no request completed: {out.stderr.decode()[-2000:]}")
    return Load(r["rps"], r["latencies"], r["errors"], r["sample_error"], r["bytes"])


if __name__ == "__main__":
    if sys.argv[1:2] != ["load"] or len(sys.argv) != 3:
        raise SystemExit("usage: python -m bench.harness load PLAN.json (used by load())")
    _load_main(sys.argv[2])
