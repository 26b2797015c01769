"""Answering speed of the generate path (what `rag ask` does with RAG_ANSWER__MODE=generate), next to
llama-cpp-python alone on the very same prompt in the same run.

Ours: question in, first streamed token out (retrieval and evidence ranking included; the fixed
examples at the start of the prompt are evaluated once when the model loads, and reused). llama-cpp-python:
the same prompt string on a fresh context of its own `Llama`, first token out.

    python -m bench.answering_speed [--questions 8]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.paths import ROOT, SHARED
from rag.answering import Assistant
from rag.config import Settings
from rag.evaluate import read_jsonl
from rag.indexing import build_index
from rag.models import llm_location
from rag.prompts import COMPLETION_STOPS, completion_prompt
from rag.retrieval import Index
from rag.types import Answer


def llama_alone(llm: Any, prompt: str, max_tokens: int) -> tuple[float, float, int]:
    """First-token seconds, total seconds and tokens of a fresh-context completion of `prompt`."""
    llm.reset()
    started = time.perf_counter()
    first, tokens = 0.0, 0
    for _ in llm.create_completion(prompt, max_tokens=max_tokens, temperature=0.0, stop=COMPLETION_STOPS, stream=True):
        tokens += 1
        first = first or time.perf_counter() - started
    return first, time.perf_counter() - started, tokens


def run(count: int) -> dict[str, Any]:
    from llama_cpp import Llama

    questions = [q["question"] for q in read_jsonl(SHARED / "eval/seed_qa.jsonl") if q["answerable"]][:count]
    with tempfile.TemporaryDirectory(prefix="rag-bench-answer-") as tmp:
        settings = Settings(seeds_dir=ROOT / "seeds", index_dir=Path(tmp) / "index")
        settings.answer.mode = "generate"
        build_index(settings, show_progress=False)
        assistant = Assistant(Index(settings))
        assistant.generator.load()  # loaded (and its fixed prompt prefix evaluated) before timing
        alone = Llama(
            str(llm_location(settings.llm.model, settings.models_dir)),
            n_ctx=settings.llm.context,
            n_threads=settings.llm.threads,
            verbose=False,
        )
        rows = []
        for question in questions:
            prompt = completion_prompt(
                question, [e.text for e in assistant.evidence(question, assistant.retrieve(question))]
            )
            assistant.index.embedder.encode_query.cache_clear()
            started, first, answer = time.perf_counter(), 0.0, None
            for event in assistant.stream(question):
                if isinstance(event, Answer):
                    answer = event
                else:
                    first = first or time.perf_counter() - started
            total = time.perf_counter() - started
            if answer is None or answer.abstained or not first:
                continue
            written = len(alone.tokenize(answer.text.encode(), add_bos=False))
            raw_first, raw_total, raw_tokens = llama_alone(alone, prompt, settings.answer.max_tokens)
            rows.append(
                {
                    "prompt_tokens": len(alone.tokenize(prompt.encode(), add_bos=True)),
                    "ttft_s": first,
                    "answer_s": total,
                    "llama_ttft_s": raw_first,
                    "llama_tokens_per_s": (raw_tokens - 1) / max(raw_total - raw_first, 1e-9),
                    "written_tokens": written,
                }
            )
            print(f"{rows[-1]}", flush=True)
    median = {key: statistics.median(r[key] for r in rows) for key in rows[0]}
    return {
        "questions": len(rows),
        "prompt_tokens_median": median["prompt_tokens"],
        "ttft_median_s": median["ttft_s"],
        "answer_median_s": median["answer_s"],
        "llama_ttft_median_s": median["llama_ttft_s"],
        "llama_tokens_per_s": median["llama_tokens_per_s"],
        "ttft_vs_llama_ratio": statistics.median(r["ttft_s"] / r["llama_ttft_s"] for r in rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=int, default=8)
    args = parser.parse_args()
    for key, value in run(args.questions).items():
        print(f"{key}: {value:.3f}" if isinstance(value, float) else f"{key}: {value}")


if __name__ == "__main__":
    main()
