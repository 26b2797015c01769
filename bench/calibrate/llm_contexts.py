"""Fits `llm.contexts`. Answers per second in process when threads share one Assistant, with one and with two llama.cpp contexts
(`llm.contexts`): the seed questions, each thread starting at its own; checks every answer is the one
made alone. Prints a table.

    python -m bench.calibrate.llm_contexts [--answers 24] [--threads 1,2,4] [--contexts 1,2]
"""

from __future__ import annotations

import argparse
import json
import threading
import time

from bench.paths import ROOT, SEED_QA
from rag import Assistant, Index, Settings
from rag.config import LLMSettings
from rag.schemas import AnswerRecord


def answers_per_second(assistant: Assistant, questions: list[str], threads: int, answers: int) -> tuple[float, bool]:
    """Answers/s with `threads` threads making `answers` answers in all, and whether each equals its reference."""
    reference = {q: AnswerRecord.of(assistant.ask(q)).model_dump() for q in questions}
    same: list[bool] = []

    def work(number: int) -> None:
        start_at = number * len(questions) // threads
        for turn in range(answers // threads):
            question = questions[(start_at + turn) % len(questions)]
            same.append(AnswerRecord.of(assistant.ask(question)).model_dump() == reference[question])

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return len(same) / (time.perf_counter() - started), len(same) == answers // threads * threads and all(same)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--answers", type=int, default=24, help="answers per measurement")
    parser.add_argument("--threads", default="1,2,4")
    parser.add_argument("--contexts", default="1,2")
    args = parser.parse_args()
    rows = [json.loads(line) for line in SEED_QA.read_text(encoding="utf-8").splitlines() if line.strip()]
    questions = [r["question"] for r in rows if r.get("answerable", True)]
    print("| LLM contexts | threads | answers/s | every answer as made alone |\n|---|---|---|---|")
    for contexts in map(int, args.contexts.split(",")):
        settings = Settings(index_dir=ROOT / "index", seeds_dir=ROOT / "seeds", llm=LLMSettings(contexts=contexts))
        assistant = Assistant(Index(settings))
        for threads in map(int, args.threads.split(",")):
            rate, same = answers_per_second(assistant, questions, threads, args.answers)
            print(f"| {contexts} | {threads} | {rate:.2f} | {same} |", flush=True)


if __name__ == "__main__":
    main()
