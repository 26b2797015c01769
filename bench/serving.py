"""The app as users start it: seconds from `make run` (already set up) to the UI's first answer, and
peak memory of `rag serve` (extractive default, and generate mode with the LLM loaded) after answering.

    python -m bench.serving
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.paths import ROOT

QUESTION = "من هو المتحدث باسم الكرملين؟"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def first_answer(port: int, process: subprocess.Popen, timeout: float = 600) -> None:
    """Wait for the UI on `port`, then ask one question through its API."""
    from gradio_client import Client

    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listening on {port} after {timeout}s") from None
            time.sleep(0.1)
    history, _, _ = Client(f"http://127.0.0.1:{port}/", verbose=False).predict(QUESTION, [], api_name="/ask")
    if not history or not history[-1]["content"]:
        raise RuntimeError("the UI gave no answer")


def memory_mb(pid: int) -> tuple[float, float]:
    """Peak (VmHWM) and current (VmRSS) resident memory of the process and its children, in MB."""
    peak = now = 0.0
    for task in [pid, *children(pid)]:
        for line in Path(f"/proc/{task}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peak += int(line.split()[1]) / 1024
            elif line.startswith("VmRSS:"):
                now += int(line.split()[1]) / 1024
    return peak, now


def children(pid: int) -> list[int]:
    found = []
    for path in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in path.read_text().split():
            found += [int(child), *children(int(child))]
    return found


def start(command: list[str], port: int, env_extra: dict[str, str]) -> subprocess.Popen:
    env = dict(
        os.environ,
        HF_HUB_OFFLINE="1",
        GRADIO_ANALYTICS_ENABLED="False",
        RAG_SERVER__RATE_LIMIT="0",
        RAG_SERVER__PORT=str(port),
    )
    env.update(env_extra)
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )


def stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def ready_after_make_run() -> float:
    """Seconds from `make run` to the first answer through the UI's API."""
    port = free_port()
    started = time.perf_counter()
    process = start(["make", "run"], port, {})
    try:
        first_answer(port, process)
        return time.perf_counter() - started
    finally:
        stop(process)


def serve_memory(mode: str) -> tuple[float, float]:
    """Peak and current resident MB of `rag serve` in the given answer mode, after one answer."""
    port = free_port()
    process = start([sys.executable, "-m", "rag.cli", "serve"], port, {"RAG_ANSWER__MODE": mode})
    try:
        first_answer(port, process)
        return memory_mb(process.pid)
    finally:
        stop(process)


def run() -> dict[str, Any]:
    ready = ready_after_make_run()
    (peak, now), (peak_generate, now_generate) = serve_memory("extractive"), serve_memory("generate")
    return {
        "ready_s": ready,
        "serve_peak_rss_mb": peak,
        "serve_rss_mb": now,
        "serve_peak_rss_mb_generate": peak_generate,
        "serve_rss_mb_generate": now_generate,
    }


def main() -> None:
    for key, value in run().items():
        print(f"{key}: {value:.1f}")


if __name__ == "__main__":
    main()
