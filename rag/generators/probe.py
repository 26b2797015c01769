"""Run the reader once in a child process: load the GGUF, evaluate a prompt, decode a few tokens. A llama.cpp build
that cannot run on this CPU (an instruction the system does not enable) kills the child, not the caller, and the
caller gets one line saying what happened. `rag models` probes after provisioning; bench/llama_builds.py times
wheels with it.

    python -m rag.generators.probe MODEL.gguf [--prompt-tokens N] [--tokens N]   (prints one JSON line)
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

# Arabic and English news prose, repeated to the prompt length asked for.
PROBED = "rag-reader-probe.json"  # in the environment's prefix: the build and model last probed, and the line
PROMPT = (
    "قال المتحدث باسم الكرملين إن المحادثات ستستمر الأسبوع المقبل في ميامي بحضور الوفدين. "
    "The Kremlin spokesman said the talks would go on next week in Miami, with both delegations present. "
)


@dataclass(frozen=True)
class ProbeResult:
    """What the child reported (ok), or why it did not (the error line)."""

    ok: bool
    system: str = ""  # llama.cpp's features in use, e.g. "AVX2 AVX512 AMX_INT8"
    prompt_tokens_per_s: float = 0.0
    tokens_per_s: float = 0.0
    error: str = ""

    def line(self) -> str:
        if not self.ok:
            return self.error
        return (
            f"llama.cpp on CPU with {self.system or 'no x86 extensions'}: "
            f"{self.prompt_tokens_per_s:.0f} prompt tokens/s, {self.tokens_per_s:.0f} generated tokens/s"
        )


def cpu_features(system_info: str) -> str:
    """The x86 features llama.cpp's system info says are on ('AVX2 = 1 | AMX_INT8 = 1' -> 'AVX2 AMX_INT8')."""
    return " ".join(name for name, on in re.findall(r"([A-Z0-9_]+) = (\d)", system_info) if on == "1")


def probe(
    model: Path,
    prompt_tokens: int = 64,
    tokens: int = 8,
    threads: int | None = None,
    timeout: float = 300,
    env: dict[str, str] | None = None,
    command: list[str] | None = None,
) -> ProbeResult:
    """Run the probe in a child (`command` replaces the probe's own, for tests) and read its JSON line."""
    from rag.llama_build import exit_reason

    command = command or [sys.executable, "-m", "rag.generators.probe", str(model)]
    options = ["--prompt-tokens", str(prompt_tokens), "--tokens", str(tokens)]
    options += ["--threads", str(threads)] if threads else []
    try:
        done = subprocess.run(
            [*command, *options], capture_output=True, text=True, timeout=timeout, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        return ProbeResult(False, error=f"the reader probe did not finish in {timeout:.0f} s")
    if done.returncode < 0:  # killed by a signal: llama.cpp's last log line would say nothing of why
        return ProbeResult(False, error=f"the reader {exit_reason(done.returncode)} on this CPU")
    if done.returncode != 0:  # a Python error: its last line says what
        last = (done.stderr.strip().splitlines() or [""])[-1][:300]
        return ProbeResult(False, error=f"the reader {exit_reason(done.returncode)}: {last}")
    try:
        report = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return ProbeResult(False, error=f"the reader probe printed no report: {done.stdout[-200:]!r}")
    return ProbeResult(True, report["system"], report["prompt_tokens_per_s"], report["tokens_per_s"])


def check_reader(model: Path, threads: int | None = None) -> tuple[bool, str]:
    """Whether the reader runs here, and the line saying on what or why not. Probed once per llama.cpp build and
    model: a probe that passed is recorded in the environment (PROBED); a build that fails is marked, so that
    the next `python -m rag.llama_build` steps down a level."""
    from rag.llama_build import installed_library, mark_failed

    key = {"library": installed_library(), "model": str(model), "size": model.stat().st_size}
    record = Path(sys.prefix) / PROBED
    try:
        kept = json.loads(record.read_text())
    except (OSError, ValueError):
        kept = {}
    if key["library"] and kept.get("key") == key:
        return True, kept["line"]
    result = probe(model, threads=threads)
    if result.ok:
        if key["library"]:
            record.write_text(json.dumps({"key": key, "line": result.line()}))
        return True, result.line()
    fix = (
        "run `make models`: it builds llama-cpp-python without the failing instructions and probes again"
        if mark_failed(result.error)
        else "reinstall llama-cpp-python for this CPU (CMAKE_ARGS='-DGGML_NATIVE=OFF' and the GGML_* instruction "
        "flags it has), or set RAG_LLM__MODEL to an OpenAI-compatible server"
    )
    return False, f"{result.error}; {fix}"


def run_in_this_process(model: Path, prompt_tokens: int, tokens: int, threads: int | None) -> dict:
    """Load, evaluate `prompt_tokens` of prompt, decode `tokens` greedily; the features and speeds."""
    import llama_cpp
    import numpy as np

    llm = llama_cpp.Llama(model_path=str(model), n_ctx=prompt_tokens + tokens + 16, n_threads=threads, verbose=False)
    text = PROMPT * (prompt_tokens // 20 + 1)
    prompt = llm.tokenize(text.encode(), add_bos=True)[:prompt_tokens]
    started = time.perf_counter()
    llm.eval(prompt)
    prompt_seconds = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(tokens):
        logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),))
        llm.eval([int(logits.argmax())])
    decode_seconds = time.perf_counter() - started
    return {
        "system": cpu_features(llama_cpp.llama_print_system_info().decode(errors="replace")),
        "prompt_tokens_per_s": len(prompt) / prompt_seconds,
        "tokens_per_s": tokens / decode_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Load a GGUF, evaluate a prompt and decode; one JSON line.")
    parser.add_argument("model", type=Path)
    parser.add_argument("--prompt-tokens", type=int, default=64)
    parser.add_argument("--tokens", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    print(json.dumps(run_in_this_process(args.model, args.prompt_tokens, args.tokens, args.threads)))


if __name__ == "__main__":
    main()
