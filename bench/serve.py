"""Benchmark the prediction service against a constant-JSON "hello" app, side by side.

    python bench/serve.py [--duration 3] [--connections 1,16,64] [--rounds 5] [--no-nagle] [--no-sync]
                          [--python-load]

It trains a model in-process on generated data into a temporary repository whose registry
serves it (``tests/utils/service.py``), then, for 1 and 2 workers, starts on 127.0.0.1 (each in turn, same
uvicorn settings via :func:`churnops.service.server.serve`):

- ``hello``: ``POST /hello`` sent the same body as ``/predict`` (one customer's JSON), which
  it reads and answers with a constant JSON object: the same request bytes, minus the work;
- ``churnops serve`` with the background log writer: ``POST /predict`` at each
  ``--connections`` count, and ``POST /predict/batch`` with 10,000 rows (4 connections);
- the same app with a synchronous log writer (a test double, ``tests/utils/doubles.py``, served
  through :func:`sync_log_app`): ``POST /predict`` with the log written inside the request, to
  measure what keeping disk I/O off the request path buys;
- the same app with no log at all (:func:`null_log_app`): ``POST /predict/batch``, interleaved
  with the logged batches, to show what logging every row costs a batch.

Load comes from ``wrk`` (bounded by ``--duration``) when it is installed
(``apt-get install wrk``), else from a Python asyncio keep-alive client (it shares the
2 cores with the servers and saturates first, so ratios are then conservative).
Unless ``--no-nagle``, it also shows the multi-worker Nagle stall: hello on uvicorn's own
socket with plain asyncio, against the same with our TCP_NODELAY socket.

Each cell is measured ``--rounds`` times, interleaved round by round, and every ratio to
hello is taken within one round (side by side); the table gives the median and the range
over the rounds. Prints one markdown table. Every server is started and stopped by
``tests/utils/server.running`` (the tests' runner), even on failure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# At module level: FastAPI resolves the (postponed) annotation `request: Request` in this module.
from fastapi import Request

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
if str(ROOT) not in sys.path:  # tests.utils: the server runner, the frame factory and the log doubles
    sys.path.insert(0, str(ROOT))
PY = sys.executable
CHURNOPS = str(Path(PY).parent / "churnops")

CUSTOMER = {"tenure_months": 14, "num_complaints": 2, "avg_session_minutes": 21.5, "plan": "basic", "region": "south"}
BATCH_ROWS = 10_000


# --------------------------------------------------------------------------- the hello app (imported by workers)


def hello_app() -> Any:
    """A FastAPI app whose ``POST /hello`` reads the body and answers constant JSON.

    It is the ceiling a FastAPI service can reach for the same request: /predict receives the
    same bytes, so the difference is validation, scoring, logging and the response.
    """
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/hello")
    async def hello(request: Request) -> dict[str, str]:
        await request.body()
        return {"message": "hello"}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def sync_log_app() -> Any:
    """The service as ``churnops serve`` builds it, with the log written inside each request."""
    from churnops.service.logwriter import LogFile
    from tests.utils.doubles import SyncLogWriter

    return _app(lambda s: SyncLogWriter(LogFile(s.log_path, max_bytes=s.max_log_bytes, backups=s.log_backups)))


def null_log_app() -> Any:
    """The service as ``churnops serve`` builds it, with no prediction log."""
    from tests.utils.doubles import NullLog

    return _app(lambda s: NullLog())


def _app(writer: Any) -> Any:
    from churnops.service.app import create_app
    from churnops.service.settings import Settings

    settings = Settings.from_env()  # CHURNOPS_*, as a `churnops serve` worker reads them
    return create_app(settings, log=writer(settings))


# --------------------------------------------------------------------------- model + repo


def build_repo(repo: Path, rows: int = 20_000) -> str:
    """Train a logreg model on generated customers; make ``repo`` a repository whose registry serves it.

    The repository also gets the training statistics of those customers, so a monitor (or a
    report) run on it judges the traffic against the served model's own training data.
    """
    from churnops.core import paths, trainstats
    from churnops.core.params import load_params
    from churnops.pipeline.export import export_model
    from churnops.pipeline.prepare import training_stats
    from churnops.pipeline.scorer import md5_bytes, model_bytes
    from churnops.pipeline.train import train
    from tests.utils.factories import labelled_customers
    from tests.utils.service import Trained, served_repo

    params = load_params(ROOT / paths.PARAMS).train
    frame = labelled_customers(rows, seed=0)
    result = train(frame, params)
    data = model_bytes(export_model(result.pipeline, params.threshold))
    served_repo(repo, Trained(params, result, data, md5_bytes(data)))
    (repo / paths.TRAIN_STATS).parent.mkdir(parents=True, exist_ok=True)
    trainstats.write(repo / paths.TRAIN_STATS, training_stats(frame))
    return md5_bytes(data)


# --------------------------------------------------------------------------- servers


@contextlib.contextmanager
def server(cmd: list[str], port: int, out_dir: Path, env: dict[str, str] | None = None) -> Iterator[None]:
    """Start ``cmd``, wait until its /health answers 200, yield, then stop it (tests/utils/server.running)."""
    from tests.utils.server import running

    url = f"http://127.0.0.1:{port}/health"
    with running(cmd, url, out_dir / f"server-{port}.out", env={**os.environ, **(env or {})}, cwd=BENCH_DIR):
        time.sleep(0.5)  # let every worker finish its start-up
        yield


def app_cmd(port: int, workers: int, variant: str = "churnops") -> list[str]:
    """This script serving one of the apps defined here (see :func:`serve_app`)."""
    return [PY, str(Path(__file__).resolve()), "--serve", variant, "--port", str(port), "--workers", str(workers)]


def serve_app(variant: str, port: int, workers: int) -> None:
    """Run the hello app (our runner, or uvicorn's own on plain asyncio to show the stall), or the
    service with a synchronous or no log (settings from the ``CHURNOPS_*`` environment)."""
    sys.path.insert(0, str(BENCH_DIR))
    from churnops.service.server import serve

    if variant == "churnops":
        serve("serve:hello_app", "127.0.0.1", port, workers)
    elif variant == "churnops-asyncio":
        serve("serve:hello_app", "127.0.0.1", port, workers, loop="asyncio")
    elif variant in ("sync-log", "null-log"):
        serve(f"serve:{variant.replace('-', '_')}_app", "127.0.0.1", port, workers)
    else:  # uvicorn-asyncio: uvicorn.run binds its own socket (proto 0): no TCP_NODELAY
        import uvicorn

        uvicorn.run("serve:hello_app", factory=True, host="127.0.0.1", port=port, workers=workers, loop="asyncio",
                    http="httptools", access_log=False, log_level="warning")  # fmt: skip


# --------------------------------------------------------------------------- load


@dataclass
class Load:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


_LUA = """
wrk.method = "{method}"
wrk.headers["Content-Type"] = "application/json"
{body}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "JSON {{\\"requests\\":%d,\\"duration_us\\":%d,\\"errors\\":%d,\\"p50_us\\":%d,\\"p99_us\\":%d}}\\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout + e.status,
    latency:percentile(50), latency:percentile(99)))
end
"""


def wrk_load(url: str, body: bytes | None, duration: float, connections: int, tmp: Path) -> Load:
    body_lua = ""
    if body is not None:
        (tmp / "body.json").write_bytes(body)
        body_lua = f'local f = io.open("{tmp / "body.json"}", "rb"); wrk.body = f:read("*all"); f:close()'
    script = tmp / "load.lua"
    script.write_text(_LUA.format(method="GET" if body is None else "POST", body=body_lua))
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration:g}s", "--timeout", "10s", "-s", str(script), url],
        capture_output=True, text=True, timeout=duration + 60, check=True,
    ).stdout  # fmt: skip
    line = next(ln for ln in out.splitlines() if ln.startswith("JSON "))
    d = json.loads(line[5:])
    return Load(d["requests"], d["duration_us"] / 1e6, d["p50_us"] / 1e3, d["p99_us"] / 1e3, d["errors"])


def python_load(url: str, body: bytes | None, duration: float, connections: int) -> Load:
    """Keep-alive HTTP/1.1 clients on raw asyncio streams (fallback when wrk is missing)."""
    from urllib.parse import urlsplit

    u = urlsplit(url)
    if body is None:
        request = f"GET {u.path} HTTP/1.1\r\nHost: {u.netloc}\r\n\r\n".encode()
    else:
        head = f"POST {u.path} HTTP/1.1\r\nHost: {u.netloc}\r\nContent-Type: application/json\r\n"
        request = f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body
    latencies: list[float] = []
    errors = 0

    async def client(deadline: float) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(u.hostname, u.port)
        try:
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - t0)
                if not head.startswith(b"HTTP/1.1 200"):
                    errors += 1
        finally:
            writer.close()

    async def main() -> float:
        start = time.perf_counter()
        await asyncio.gather(*(client(start + duration) for _ in range(connections)))
        return time.perf_counter() - start

    seconds = asyncio.run(main())
    latencies.sort()
    n = len(latencies)
    return Load(n, seconds, latencies[n // 2] * 1e3, latencies[min(n - 1, int(n * 0.99))] * 1e3, errors)


# --------------------------------------------------------------------------- where a batch's time goes


BREAKDOWN_REPEAT = 40
"""Best of this many runs per step: the minimum is what a step costs on a free core."""


def batch_breakdown(repo: Path, body: bytes, repeat: int = BREAKDOWN_REPEAT) -> list[tuple[str, float]]:
    """In-process cost (best of ``repeat``, ms) of each step of one ``/predict/batch`` request.

    The steps the endpoint runs, called directly with no HTTP: what the server does per
    request besides receiving the body and sending the answer. Encoding the log lines runs
    on the writer thread, but it holds the GIL, so with one worker it competes with requests.
    ``timeit`` turns the garbage collector off while it times, so these figures leave out
    what collection costs in the server (~1 ms a batch; see ``GC_YOUNG_THRESHOLD`` in
    :mod:`churnops.service.app`).
    """
    import timeit

    import orjson

    from churnops.core.logformat import BatchEntry, encode
    from churnops.service.loader import RegistryModelLoader
    from churnops.service.schemas import BATCH, batch_fast

    model = RegistryModelLoader(repo).load()
    batch = batch_fast(body)
    assert batch is not None and batch.columns is not None
    items, columns = batch.items, batch.columns
    scores = model.scorer.predict_proba_columns(columns)
    probs, churn = scores.tolist(), (scores >= model.threshold).tolist()
    entry = BatchEntry(0.0, "r", model.version, items, probs, churn, 1.0)

    def respond() -> bytes:
        predictions = [{"churn_probability": p, "churn": c} for p, c in zip(probs, churn, strict=True)]
        return orjson.dumps({"request_id": "r", "model_version": model.version, "predictions": predictions})

    steps: list[tuple[str, Any]] = [
        ("parse + validate, columnar (orjson + checks: the endpoint's path)", lambda: batch_fast(body)),
        ("  of which orjson.loads", lambda: orjson.loads(body)),
        ("parse + validate, pydantic (the fallback, for a body it refuses)", lambda: BATCH.validate_json(body)),
        ("repeated-key check (count ':')", lambda: body.count(b":")),
        (
            "score from the columns (Scorer.predict_proba_columns: the endpoint's path)",
            lambda: model.scorer.predict_proba_columns(columns),
        ),
        ("score from the items (Scorer.predict_proba_records)", lambda: model.scorer.predict_proba_records(items)),
        ("response (dicts + orjson.dumps)", respond),
        ("log lines (encode, writer thread)", lambda: encode(entry)),
    ]
    return [(name, min(timeit.repeat(fn, number=1, repeat=repeat)) * 1e3) for name, fn in steps]


ASGI_CALLS = 3_000
"""Requests per timed run of :func:`asgi_per_request`."""
ASGI_ROUNDS = 9
"""Interleaved runs per app (ABBA): the table gives the best and the median."""


def asgi_per_request(repo: Path, body: bytes) -> dict[str, list[float]]:
    """Microseconds per request of hello's and /predict's whole ASGI app, called in-process.

    No socket, no HTTP parser, no load generator: each app (lifespan started, middleware,
    routing, validation, scoring, the background log writer's thread running alongside)
    answers ``ASGI_CALLS`` requests in a row on one event loop. This is the per-request CPU
    the server adds on top of what both apps share, and it is far less noisy than the wrk
    cells on a shared machine, where the two-worker cells oversubscribe two cores.
    """
    from churnops.service.app import create_app
    from churnops.service.settings import Settings

    apps = {
        "hello": (hello_app(), "/hello"),
        "predict": (create_app(Settings(repo=repo, log_path=repo / "asgi.jsonl"), handle_sighup=False), "/predict"),
    }
    headers = [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]

    async def one(app: Any, path: str) -> int:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
                 "headers": headers, "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2)}  # fmt: skip
        status = 0

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            status = message.get("status", status)

        await app(scope, receive, send)
        return status

    async def run() -> dict[str, list[float]]:
        lifespans = []
        for app, _ in apps.values():
            inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
            outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
            task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, outbox.put))
            await inbox.put({"type": "lifespan.startup"})
            assert (await outbox.get())["type"] == "lifespan.startup.complete"
            lifespans.append((task, inbox, outbox))
        for app, path in apps.values():
            assert await one(app, path) == 200, path
        times: dict[str, list[float]] = {name: [] for name in apps}
        for i in range(ASGI_ROUNDS):
            for name, (app, path) in list(apps.items())[:: -1 if i % 2 else 1]:
                t0 = time.perf_counter()
                for _ in range(ASGI_CALLS):
                    await one(app, path)
                times[name].append((time.perf_counter() - t0) / ASGI_CALLS * 1e6)
        for task, inbox, outbox in lifespans:
            await inbox.put({"type": "lifespan.shutdown"})
            await outbox.get()
            await task
        return times

    return asyncio.run(run())


# --------------------------------------------------------------------------- main


def median(runs: list[Load]) -> Load:
    """The run with the median req/s."""
    return sorted(runs, key=lambda r: r.rps)[len(runs) // 2]


PREDICT_TARGET = 0.85
"""/predict's req/s, as a fraction of hello's in the same round, at every connection count and worker count."""
BATCH_TARGET = 500_000
"""/predict/batch rows/s on one worker, every row logged."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=3.0, help="seconds of load per measurement")
    parser.add_argument("--connections", default="1,16,64", help="comma-separated connection counts for /predict")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved repeats of each cell: median and range")
    parser.add_argument("--no-nagle", action="store_true", help="skip the TCP_NODELAY demonstration")
    parser.add_argument("--no-sync", action="store_true", help="skip the log-written-in-request cells")
    parser.add_argument("--python-load", action="store_true", help="use the Python load generator even if wrk exists")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--smoke", action="store_true", help="a tiny run: checks the bench still works end to end")
    args = parser.parse_args()
    worker_counts: tuple[int, ...] = (1, 2)
    if args.smoke:
        global ASGI_CALLS, ASGI_ROUNDS, BREAKDOWN_REPEAT
        args.duration, args.connections, args.rounds, args.no_nagle = 0.2, "1", 1, True
        worker_counts, ASGI_CALLS, ASGI_ROUNDS, BREAKDOWN_REPEAT = (1,), 50, 2, 2
    if args.serve:
        serve_app(args.serve, args.port, args.workers)
        return 0
    conns = [int(c) for c in args.connections.split(",")]

    use_wrk = shutil.which("wrk") is not None and not args.python_load
    load_start = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="churnops-bench-"))
    try:
        repo = tmp / "repo"
        md5 = build_repo(repo)
        one = json.dumps(CUSTOMER).encode()
        batch = json.dumps({"items": [CUSTOMER] * BATCH_ROWS}).encode()
        breakdown = batch_breakdown(repo, batch, BREAKDOWN_REPEAT)
        per_request = asgi_per_request(repo, one)

        def load_once(url: str, body: bytes | None, connections: int) -> Load:
            if use_wrk:
                return wrk_load(url, body, args.duration, connections, tmp)
            return python_load(url, body, args.duration, connections)

        def service(port: int, workers: int, log: str) -> Any:
            """The service on ``port``: the real ``churnops serve`` (background log), or this
            script serving it with a synchronous (``sync-log``) or no log (``null-log``)."""
            from churnops.service.settings import Settings

            path = tmp / f"log-{log}-{workers}-{free_port()}" / "predictions.jsonl"
            settings = Settings(repo=repo, log_path=path, max_log_bytes=64 * 1024 * 1024, log_backups=2)
            if log == "background":
                cmd = [CHURNOPS, "serve", "--repo", str(repo), "--port", str(port), "--workers", str(workers),
                       "--log-path", str(path), "--max-log-bytes", str(settings.max_log_bytes),
                       "--log-backups", str(settings.log_backups)]  # fmt: skip
                return server(cmd, port, tmp)
            return server(app_cmd(port, workers, log), port, tmp, settings.to_env())

        from tests.utils.server import free_port

        logs = ["background"] if args.no_sync else ["background", "sync-log"]
        results: dict[tuple[str, int, int], list[Load]] = {}
        for workers in worker_counts:
            # All servers of one worker count run at once (idle ones cost nothing) and the
            # measurements interleave round by round, so a neighbour's load on this shared
            # machine hits hello and /predict alike and the ratios stay fair.
            ports = {name: free_port() for name in ("hello", *logs)}
            with contextlib.ExitStack() as stack:
                stack.enter_context(server(app_cmd(ports["hello"], workers), ports["hello"], tmp))
                for log in logs:
                    stack.enter_context(service(ports[log], workers, log))
                cells = {"hello": (f"http://127.0.0.1:{ports['hello']}/hello", one)}
                cells["predict"] = (f"http://127.0.0.1:{ports['background']}/predict", one)
                if "sync-log" in logs:
                    cells["predict-sync"] = (f"http://127.0.0.1:{ports['sync-log']}/predict", one)
                for i in range(args.rounds):
                    for c in conns:
                        # Odd rounds run the cells in reverse (ABBA): a neighbour's load that
                        # rises or falls during a round then favours neither side on average.
                        for name, (url, body) in list(cells.items())[:: -1 if i % 2 else 1]:
                            results.setdefault((name, workers, c), []).append(load_once(url, body, c))
            # Batches on servers of their own, afterwards: logging 10,000 rows per request keeps
            # the writer busy for a while, which must not spill into the single-row cells. The
            # unlogged server's rounds interleave with the logged one's.
            ports = {name: free_port() for name in ("batch", "batch-nolog")}
            with service(ports["batch"], workers, "background"), service(ports["batch-nolog"], workers, "null-log"):
                for i in range(args.rounds):
                    for name, port in list(ports.items())[:: -1 if i % 2 else 1]:
                        url = f"http://127.0.0.1:{port}/predict/batch"
                        results.setdefault((name, workers, 4), []).append(load_once(url, batch, 4))
        nagle: dict[str, Load] = {}
        if not args.no_nagle:
            for variant in ("uvicorn-asyncio", "churnops-asyncio"):
                port = free_port()
                with server(app_cmd(port, 2, variant), port, tmp):
                    nagle[variant] = load_once(f"http://127.0.0.1:{port}/hello", one, max(conns))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    loader = "wrk -t1" if use_wrk else "python asyncio"
    # The machine may be shared: a high load average means low absolute figures (the ratios,
    # measured side by side within a round, are what to compare).
    load = f"load average {load_start:.1f} at start, {os.getloadavg()[0]:.1f} at end"
    print(f"model {md5[:12]} (logreg); load: {loader}, {args.duration:g} s per cell, {args.rounds} interleaved rounds"
          f" (median, min–max); {os.cpu_count()} cores; {load}\n")  # fmt: skip
    print(
        "| endpoint | workers | conns | req/s | rows/s | p50 ms | p99 ms "
        "| req/s vs hello (range) | p99 vs hello (range) | errors |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    labels = {
        "hello": "POST /hello (same body, constant JSON)",
        "predict": "POST /predict (background log)",
        "predict-sync": "POST /predict (log written in-request)",
        "batch": f"POST /predict/batch ({BATCH_ROWS:,} rows, every row logged)",
        "batch-nolog": f"POST /predict/batch ({BATCH_ROWS:,} rows, no log)",
    }
    verdicts = []
    for (name, workers, c), runs in sorted(results.items(), key=lambda kv: (list(labels).index(kv[0][0]), kv[0][1:])):
        r = median(runs)
        scale = BATCH_ROWS if name.startswith("batch") else 1
        rows = f"{r.rps * scale:,.0f} ({span([x.rps * scale for x in runs], '{:,.0f}')})"
        vs = p99 = ""
        if name == "batch":  # what logging every row costs: logged / unlogged within a round
            pairs = list(zip(runs, results["batch-nolog", workers, c], strict=True))
            vs = span([x.rps / u.rps for x, u in pairs], "{:.0%}", median_first=True) + " of unlogged"
        elif name in ("predict", "predict-sync"):
            # Ratios within a round: both cells saw the same neighbours on this shared machine.
            pairs = list(zip(runs, results["hello", workers, c], strict=True))
            ratios = [x.rps / h.rps for x, h in pairs]
            vs = span(ratios, "{:.0%}", median_first=True)
            p99 = span([x.p99_ms / h.p99_ms for x, h in pairs], "{:.2f}x", median_first=True)
            if name == "predict":
                mid = sorted(ratios)[len(ratios) // 2]
                ok = sum(x >= PREDICT_TARGET for x in ratios)
                verdicts.append(f"/predict, {workers} worker(s), {c} conns: median {mid:.0%} of hello"
                                f" ({'meets' if mid >= PREDICT_TARGET else 'MISSES'} ≥ {PREDICT_TARGET:.0%}),"
                                f" {ok}/{len(ratios)} rounds at or above")  # fmt: skip
        if name == "batch" and workers == 1:
            mid = r.rps * scale
            ok = sum(x.rps * scale >= BATCH_TARGET for x in runs)
            verdicts.append(f"/predict/batch, 1 worker: median {mid:,.0f} rows/s"
                            f" ({'meets' if mid >= BATCH_TARGET else 'MISSES'} ≥ {BATCH_TARGET:,}),"
                            f" {ok}/{len(runs)} rounds at or above")  # fmt: skip
        row = [labels[name], workers, c, f"{r.rps:,.0f}", rows, f"{r.p50_ms:.2f}", f"{r.p99_ms:.2f}", vs, p99]
        print("| " + " | ".join(str(x) for x in [*row, sum(x.errors for x in runs)]) + " |")
    for variant, label in (("uvicorn-asyncio", "POST /hello, uvicorn.run socket, asyncio loop"),
                           ("churnops-asyncio", "POST /hello, TCP_NODELAY socket, asyncio loop")):  # fmt: skip
        if variant in nagle:
            r = nagle[variant]
            print(f"| {label} | 2 | {max(conns)} | {r.rps:,.0f} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} |"
                  f"  |  | {r.errors} |")  # fmt: skip
    print()
    for v in verdicts:
        print(f"- {v}")
    for name, n in (("hello", max(conns)), ("predict", max(conns)), ("batch", 4)):
        if (name, 2, n) not in results:  # a --smoke run has one worker only
            continue
        ratio = median(results[name, 2, n]).rps / median(results[name, 1, n]).rps
        print(f"- {name} at {n} conns: 2 workers / 1 worker = {ratio:.2f}x (medians)")
    print(f"\nWhere a {BATCH_ROWS:,}-row batch's time goes, in-process (best of {BREAKDOWN_REPEAT}, GC off; the log"
          " lines are encoded on the writer thread, which shares the GIL with the requests):\n")  # fmt: skip
    print("| step | ms | rows/s if alone |")
    print("|---|---:|---:|")
    for name, ms in breakdown:
        print(f"| {name} | {ms:.2f} | {BATCH_ROWS / ms * 1e3:,.0f} |")
    print(f"\nOne request's whole ASGI app, in-process ({ASGI_ROUNDS} interleaved runs of {ASGI_CALLS:,} requests;"
          " no socket, so only what the apps themselves cost):\n")  # fmt: skip
    print("| app | µs per request, best | median | req/s per core vs hello (best) |")
    print("|---|---:|---:|---:|")
    for name, label in (("hello", "POST /hello (FastAPI route)"), ("predict", "POST /predict (logged)")):
        us = per_request[name]
        ratio = min(per_request["hello"]) / min(us)
        print(f"| {label} | {min(us):.1f} | {sorted(us)[len(us) // 2]:.1f} | {ratio:.2f} |")
    return 0


def span(values: list[float], fmt: str, median_first: bool = False) -> str:
    """``min–max`` of ``values`` (or ``median (min–max)``), each formatted with ``fmt``."""
    low, high = fmt.format(min(values)), fmt.format(max(values))
    spread = low if low == high else f"{low}–{high}"
    if not median_first:
        return spread
    mid = sorted(values)[len(values) // 2]
    return f"{fmt.format(mid)} ({spread})"


if __name__ == "__main__":
    sys.exit(main())
