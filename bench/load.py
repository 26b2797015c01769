"""The HTTP API under load: a real `rag serve` on a loopback port, 1, 4, 16 and 32 concurrent clients for a
bounded time each, seed questions (streamed, SSE) mixed with searches. Prints requests/s, p50/p95 latency, time
to the first SSE event, errors other than 429, and the server's peak memory; compares single-client latency
with the same calls in process (`Index.search`, `Assistant.ask`). Stops by itself.

    python -m bench.load [--seconds 60] [--clients 1,4,16,32]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench.paths import EVAL, ROOT, SEED_QA
from bench.serving import free_port
from rag import Settings

XQUAD = EVAL / "xquad_ar/questions.jsonl"


def questions() -> list[str]:
    rows = [json.loads(line) for line in SEED_QA.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r["question"] for r in rows if r.get("answerable", True)][:12]


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def fresh_queries(n: int) -> list[str]:
    """Distinct questions not asked before (XQuAD-ar), so that each search embeds its query."""
    rows = XQUAD.read_text(encoding="utf-8").splitlines()[:n]
    return [json.loads(line)["question"] for line in rows]


def timed(call: Any, *args: Any, **kwargs: Any) -> float:
    started = time.perf_counter()
    call(*args, **kwargs)
    return time.perf_counter() - started


def paired(url: str, asked: list[str], rounds: int = 3) -> dict[str, float]:
    """Single-client latency over HTTP against the same call in this process, measured alternately (one call
    here, the same over HTTP, and so on) so that both see the same machine load: medians and their ratios."""
    from rag import Assistant, Index, Settings

    assistant = Assistant(Index(Settings(index_dir=ROOT / "index", seeds_dir=ROOT / "seeds")))
    http = httpx.Client(base_url=url, timeout=300)
    times: dict[str, list[float]] = {k: [] for k in ("ask", "ask_http", "search", "search_http")}
    times |= {"fresh_search": [], "fresh_search_http": []}
    for question in asked:  # warm: models loaded, every question seen once on both sides
        assistant.ask(question)
        http.post("/v1/ask", json={"question": question})
    for _ in range(rounds):
        for question in asked:  # seconds each: alternate call by call
            times["ask"].append(timed(assistant.ask, question))
            times["ask_http"].append(timed(http.post, "/v1/ask", json={"question": question}))
    # Milliseconds each: alternate in blocks of ten, as one process's idle compute threads still spin for a moment
    # after each call and would slow the other's next call.
    for block in range(0, 60, 10):
        repeated = (asked * 10)[block : block + 10]
        times["search"] += [timed(assistant.index.search, q, 5) for q in repeated]
        times["search_http"] += [timed(http.post, "/v1/search", json={"query": q, "k": 5}) for q in repeated]
    fresh = fresh_queries(120)
    for block in range(0, 120, 10):  # the same new queries on each side (each process embeds each once)
        queries = fresh[block : block + 10]
        times["fresh_search"] += [timed(assistant.index.search, q, 5) for q in queries]
        times["fresh_search_http"] += [timed(http.post, "/v1/search", json={"query": q, "k": 5}) for q in queries]
    http.close()
    medians = {f"{k}_p50_s": statistics.median(v) for k, v in times.items()}
    return {
        "http_in_process_ask_p50_s": medians["ask_p50_s"],
        "http_paired_ask_p50_s": medians["ask_http_p50_s"],
        "http_ask_p50_ratio": medians["ask_http_p50_s"] / medians["ask_p50_s"],
        "http_in_process_search_p50_s": medians["search_p50_s"],
        "http_paired_search_p50_s": medians["search_http_p50_s"],
        "http_search_p50_ratio": medians["search_http_p50_s"] / medians["search_p50_s"],
        "http_in_process_fresh_search_p50_s": medians["fresh_search_p50_s"],
        "http_paired_fresh_search_p50_s": medians["fresh_search_http_p50_s"],
        "http_fresh_search_p50_ratio": medians["fresh_search_http_p50_s"] / medians["fresh_search_p50_s"],
    }


def start_server(port: int) -> subprocess.Popen:
    env = dict(os.environ, HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False", RAG_SERVER__RATE_LIMIT="0")
    server = subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "serve", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).json()["status"] == "ready":
                return server
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(1)
    server.kill()
    raise RuntimeError("rag serve did not become ready")


def peak_memory_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def level(url: str, clients: int, seconds: float, asked: list[str]) -> dict[str, Any]:
    """`clients` threads, each alternating a streamed question and a search until the time is up."""
    stop = time.monotonic() + seconds
    lock = threading.Lock()
    found: dict[str, list[float]] = {"ask": [], "search": [], "first_event": [], "first_text": []}
    counts = {"ok": 0, "in_window": 0, "429": 0, "errors": 0}
    errors: list[str] = []

    def client(number: int) -> None:
        with httpx.Client(base_url=url, timeout=300) as http:
            turn = number  # odd clients start with a search
            start_at = number * len(asked) // clients  # and each at its own question
            while time.monotonic() < stop:
                question = asked[(start_at + turn // 2) % len(asked)]  # every question both asked and searched
                started = time.perf_counter()
                try:
                    if turn % 2 == 0:
                        status, first, text = stream_ask(http, question, started)
                        kind = "ask"
                    else:
                        response = http.post("/v1/search", json={"query": question, "k": 5})
                        status, first, text, kind = response.status_code, None, None, "search"
                        retry = response.headers.get("retry-after")
                except httpx.HTTPError as error:
                    status, first, text, kind = 0, None, None, "error"
                    errors.append(repr(error))
                elapsed = time.perf_counter() - started
                in_window = time.monotonic() <= stop
                with lock:
                    if status == 200 and in_window:
                        counts["in_window"] += 1
                    if status == 200:
                        counts["ok"] += 1
                        found[kind].append(elapsed)
                        if first is not None and text is not None:
                            found["first_event"].append(first)
                            found["first_text"].append(text)
                    elif status == 429:
                        counts["429"] += 1
                    else:
                        counts["errors"] += 1
                if status == 429:
                    time.sleep(min(2.0, float(retry or 1)) if kind == "search" else 1.0)
                turn += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    return {
        "clients": clients,
        "seconds": round(wall, 1),
        # Requests finished within the window, per second of it (the drain after it runs at falling concurrency).
        "requests_per_s": round(counts["in_window"] / seconds, 3),
        "ok": counts["ok"],
        "rejected_429": counts["429"],
        "errors": counts["errors"],
        "ask_p50_s": percentile(found["ask"], 0.5),
        "ask_p95_s": percentile(found["ask"], 0.95),
        "search_p50_s": percentile(found["search"], 0.5),
        "search_p95_s": percentile(found["search"], 0.95),
        "first_event_p50_s": percentile(found["first_event"], 0.5),
        "first_text_p50_s": percentile(found["first_text"], 0.5),
        "error_samples": errors[:3],
    }


def stream_ask(http: httpx.Client, question: str, started: float) -> tuple[int, float | None, float | None]:
    """POST /v1/ask with stream: its status, seconds to the first SSE event and to the first text."""
    first = text = None
    with http.stream("POST", "/v1/ask", json={"question": question, "stream": True}) as response:
        if response.status_code != 200:
            return response.status_code, None, None
        for line in response.iter_lines():
            if line.startswith("data: ") and first is None:
                first = time.perf_counter() - started
            if line.startswith('data: {"type": "delta"') and text is None:
                text = time.perf_counter() - started
            if line == "data: [DONE]":
                break
            if line.startswith('data: {"type": "error"'):
                return 500, first, text
    return 200, first, text


def run(seconds: float = 60.0, clients: tuple[int, ...] = (1, 4, 16, 32)) -> dict[str, Any]:
    asked = questions()
    port = free_port()
    server = start_server(port)
    url = f"http://127.0.0.1:{port}"
    try:
        baseline = paired(url, asked)
        gc.collect()
        levels = [level(url, n, seconds, asked) for n in clients]
        peak = peak_memory_mb(server.pid)
    finally:
        server.terminate()
        server.wait(120)
    settings = Settings()  # what the server ran with (the same environment)
    one = levels[0]
    by_clients = {lv["clients"]: lv for lv in levels}
    return {
        "http_levels": levels,
        **baseline,
        "http_errors_at_max_clients": levels[-1]["errors"],
        "http_throughput_4_over_1": (
            by_clients[4]["requests_per_s"] / one["requests_per_s"]
            if 4 in by_clients and one["requests_per_s"]
            else None
        ),
        "http_peak_memory_mb": round(peak, 1),
        "http_answer_workers": settings.server.answer_workers,
        "http_llm_contexts": settings.llm.contexts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="seconds per level")
    parser.add_argument("--clients", default="1,4,16,32", help="comma-separated client counts")
    args = parser.parse_args()
    result = run(args.seconds, tuple(int(c) for c in args.clients.split(",")))
    print(json.dumps(result, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
