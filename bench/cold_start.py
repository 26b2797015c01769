"""A cold `rag search` and `rag ask`: a new process over a built index (the seed article), timed whole, the two
commands alternated over rounds; then where the time goes, stage by stage, in a new process that takes the
same steps with a clock between them.

    python -m bench.cold_start [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.paths import ROOT

QUESTION = "من هو المتحدث باسم الكرملين؟"
COMMANDS = {"search": ["search", QUESTION, "-k", "5"], "ask": ["ask", QUESTION]}
# The steps `rag ask` takes, each timed after the one before; printed as JSON on the last line.
STAGES = """
import json, sys, time
started = time.perf_counter()
laps = {}
def lap(stage):
    global started
    now = time.perf_counter(); laps[stage] = now - started; started = now
import rag.cli
lap("python and rag's imports")
import torch
lap("import torch")
import sentence_transformers
lap("import sentence-transformers (transformers, scikit-learn)")
from rag.config import Settings
from rag.generators import load_generator, warm_up
from rag.retrieval import Index
from rag.answering import Assistant
settings = Settings(index_dir=sys.argv[1])
generator = load_generator(settings.llm, settings.answer, settings.models_dir)
index = Index(settings)
lap("open the index")
index.embedder.encode_query("warm up")
lap("load the embedder (model, tokenizer, int8)")
index.search(sys.argv[2], k=5)
lap("search")
generator.load()
lap("start the reader (child process, GGUF, fixed prompt)")
Assistant(index, generator).ask(sys.argv[2])
lap("answer")
print(json.dumps(laps))
"""


def seconds(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "rag.cli", *args], cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def spread(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def run(rounds: int = 3) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="rag-bench-cold-") as tmp:
        index = Path(tmp) / "index"
        env = dict(os.environ, HF_HUB_OFFLINE="1", RAG_INDEX_DIR=str(index))
        subprocess.run(
            [sys.executable, "-m", "rag.cli", "index", "--seeds", str(ROOT / "seeds")],
            cwd=ROOT, env=env, check=True, capture_output=True,
        )  # fmt: skip
        taken: dict[str, list[float]] = {name: [] for name in COMMANDS}
        for _ in range(rounds):  # the commands alternated, so that a noisy minute falls on both
            for name, args in COMMANDS.items():
                taken[name].append(seconds(args, env))
        stages: list[dict[str, float]] = []
        for _ in range(rounds):
            done = subprocess.run(
                [sys.executable, "-c", STAGES, str(index), QUESTION],
                cwd=ROOT, env=env, check=True, capture_output=True, text=True,
            )  # fmt: skip
            stages.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return {
        "question": QUESTION,
        "rounds": rounds,
        "cold_search_s": statistics.median(taken["search"]),
        "cold_ask_s": statistics.median(taken["ask"]),
        "search_s": spread(taken["search"]),
        "ask_s": spread(taken["ask"]),
        "stages_s": {stage: statistics.median(run[stage] for run in stages) for stage in stages[0]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    print(json.dumps(run(parser.parse_args().rounds), indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
