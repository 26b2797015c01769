"""What the reader's child process costs an answer: the seed questions answered by one Assistant with the reader
in this process (llm.process off) and by one with it in a child (the default), alternated over rounds,
after one warm-up answer each; the answers must be the same. Also the memory of each way (this process's
resident set, plus the child's).

    python -m bench.reader_process [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from bench.paths import ROOT, SEED_QA
from rag import Assistant, Index, Settings, build_index
from rag.embedding import Embedder
from rag.generators.isolated import IsolatedGenerator
from rag.generators.llama import LlamaGenerator
from rag.schemas import AnswerRecord


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run(rounds: int = 3) -> dict[str, Any]:
    import tempfile

    questions = [json.loads(line)["question"] for line in SEED_QA.read_text().splitlines()]
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(seeds_dir=ROOT / "seeds", index_dir=Path(tmp) / "index")
        embedder = Embedder(settings.embedder, settings.models_dir)
        build_index(settings, embedder, show_progress=False)
        index = Index(settings, embedder)
        in_process = LlamaGenerator(settings.llm, settings.answer, settings.models_dir)
        child = IsolatedGenerator(settings.llm, settings.answer, settings.models_dir)
        ways = {"in this process": Assistant(index, in_process), "in a child process": Assistant(index, child)}
        before = rss_mb(os.getpid())
        for assistant in ways.values():
            assistant.ask(questions[0])  # loads the model and its fixed prompt
        seconds: dict[str, list[float]] = {name: [] for name in ways}
        answers: dict[str, list[dict]] = {name: [] for name in ways}
        for _ in range(rounds):
            for name, assistant in ways.items():
                for question in questions:
                    started = time.perf_counter()
                    answer = assistant.ask(question)
                    seconds[name].append(time.perf_counter() - started)
                    answers[name].append(AnswerRecord.of(answer).model_dump())
        report: dict[str, Any] = {"questions": len(questions), "rounds": rounds}
        for name in ways:
            report[name] = {
                "answer_median_s": statistics.median(seconds[name]),
                "answer_mean_s": statistics.mean(seconds[name]),
            }
        cost = report["in a child process"]["answer_median_s"] - report["in this process"]["answer_median_s"]
        report["added_median_s"] = cost
        report["same_answers"] = answers["in this process"] == answers["in a child process"]
        report["child_rss_mb"] = rss_mb(child.pid) if child.pid else None
        report["this_process_rss_mb_added_by_in_process_model"] = rss_mb(os.getpid()) - before
        child.close()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    print(json.dumps(run(parser.parse_args().rounds), indent=1))


if __name__ == "__main__":
    main()
