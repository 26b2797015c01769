"""`make bench`: every benchmark in one run. Prints the figures and writes `bench/results.json` and
`BENCHMARKS.md` (with the machine and the date). `--only` re-runs some sections and keeps the others'
last figures.

    python -m bench.suite [--only indexing,search,answering,serving,http,quality,extraction,ray,scale,builds,reader_process]
    python -m bench.suite --only ""   # rewrite BENCHMARKS.md from the last figures and the trial notes
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import (
    answering_speed,
    cold_start,
    distributed,
    docs,
    extraction,
    indexing_speed,
    llama_builds,
    load,
    quality,
    reader_process,
    scale,
    search_latency,
    serving,
)
from bench.paths import ROOT

RESULTS_JSON = ROOT / "bench/results.json"
REPORT = ROOT / "BENCHMARKS.md"
TRIALS = ROOT / "bench/results/trials.md"
ONE_OFF = ROOT / "bench/results/one_off.md"
COMPILE = ROOT / "bench/results/llama_compile.json"
SIZES = (1_000, 10_000, 100_000)

SECTIONS: dict[str, Callable[[], dict[str, Any]]] = {
    "indexing": lambda: indexing_speed.run(articles=300, fp32_sample=150),
    "search": lambda: {"stages_ms": search_latency.run(list(SIZES), queries=200)},
    "answering": lambda: answering_speed.run(8),
    "serving": serving.run,
    "http": load.run,
    "quality": quality.run,
    "extraction": extraction.run,
    "ray": lambda: distributed.run(articles=300),
    "scale": scale.run,
    "builds": llama_builds.run,
    "reader_process": reader_process.run,
    "cold_start": cold_start.run,
}


def machine() -> dict[str, Any]:
    import torch

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": round(memory_kb / 2**20),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d"),
    }


def headline(sections: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The figures checked against the targets, flat."""
    indexing, search = sections.get("indexing", {}), sections.get("search", {}).get("stages_ms", {})
    answering, serve, recall = sections.get("answering", {}), sections.get("serving", {}), sections.get("quality", {})
    largest, smallest = search.get(str(SIZES[-1]), {}), search.get(str(SIZES[0]), {})
    return {
        "embed_tokens_per_s": indexing.get("embed_tokens_per_s"),
        "embed_fp32_tokens_per_s": indexing.get("embed_fp32_tokens_per_s"),
        "index_vs_raw_ratio": indexing.get("index_vs_raw_ratio"),
        "search_p95_ms_100k_excl_embed": largest.get("excl_embed", {}).get("p95_ms"),
        "search_p50_ms_total": smallest.get("total", {}).get("p50_ms"),
        "search_p50_ms_total_100k": largest.get("total", {}).get("p50_ms"),
        "ttft_vs_llama_ratio": answering.get("ttft_vs_llama_ratio"),
        "ready_s": serve.get("ready_s"),
        "cold_search_s": sections.get("cold_start", {}).get("cold_search_s"),
        "cold_ask_s": sections.get("cold_start", {}).get("cold_ask_s"),
        "xquad_ar_recall@5": recall.get("xquad_ar_recall@5"),
        "xquad_ar_recall@5_fp32": recall.get("xquad_ar_recall@5_fp32"),
        **{k: v for k, v in sections.get("http", {}).items() if k != "http_levels"},
        "extraction_f1": sections.get("extraction", {}).get("ours", {}).get("f1"),
        "extraction_empty_pages": sections.get("extraction", {}).get("ours", {}).get("empty"),
        "ray": {key: sections.get("ray", {}).get(key) for key in ("build_ratio", "startup_s")},
        "scale": sections.get("scale", {}).get("backends"),
    }


def elsewhere(results: dict[str, Any]) -> list[str]:
    """A line for the sections measured on another machine or day than the header's."""
    main, by_machine = results["machine"], {}
    for name, measured in results.get("machines", {}).items():
        if measured and measured != main:
            by_machine.setdefault((measured["cpu"], measured["date"]), []).append(name)
    return (
        [
            "",
            *(
                f"Measured on {cpu}, {date} (`suite.py --only`): {', '.join(names)}."
                for (cpu, date), names in sorted(by_machine.items())
            ),
        ]
        if by_machine
        else []
    )


def fmt(value: Any, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}" if isinstance(value, float) else str(value)


def markdown(results: dict[str, Any]) -> str:
    m, h, s = results["machine"], results, results["sections"]  # the headline figures are the top-level keys
    ix, an, sv = s.get("indexing", {}), s.get("answering", {}), s.get("serving", {})
    dtype = ix.get("embed_dtype", "bfloat16")
    speedups = {
        name: ix[f"embed_{key}_sample_tokens_per_s"] / ix["embed_fp32_tokens_per_s"]
        for name, key in (("int8", "int8"), ("bfloat16", "bf16"))
        if f"embed_{key}_sample_tokens_per_s" in ix
    }
    recall_drop = h["xquad_ar_recall@5_fp32"] - h["xquad_ar_recall@5"] if h["xquad_ar_recall@5"] is not None else None
    lines = [
        "# Benchmarks",
        "",
        (
            f"Written by `make bench` on {m['date']}: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, "
            f"no GPU; Python {m['python']}, torch {m['torch']}. The machine is shared and noisy: figures are medians "
            "of one run. Machine-readable: `bench/results.json`."
        ),
        *elsewhere(results),
        "",
        "## Targets",
        "",
        "| Figure | Measured | Target |",
        "|---|---|---|",
        f"| Document embedding, {dtype} (tokens/s) | {fmt(h['embed_tokens_per_s'], 0)} | ≥ 1,200 |",
        (
            f"| Document embedding, float32, same texts (tokens/s) | {fmt(h['embed_fp32_tokens_per_s'], 0)} ("
            + ", ".join(f"{name} {fmt(x, 2)}×" for name, x in speedups.items())
            + f" on the same {ix.get('fp32_sample_chunks', '')} chunks) | – |"
        ),
        (
            f"| `rag index` throughput / raw encode | {fmt(h['index_vs_raw_ratio'], 2)} (without the "
            f"{fmt(ix.get('embedder_load_s'))} s import and model load of a cold process: "
            f"{fmt(ix.get('index_vs_raw_ratio_excl_load'), 2)}) | ≥ 0.90 |"
        ),
        f"| Search p95 without query embedding, 100k chunks (ms) | {fmt(h['search_p95_ms_100k_excl_embed'])} | ≤ 10 |",
        f"| Full search p50, 1k chunks (ms) | {fmt(h['search_p50_ms_total'])} | ≤ 80 |",
        f"| Time to first token / llama-cpp-python's own | {fmt(h['ttft_vs_llama_ratio'], 2)} | ≤ 1.15 |",
        f"| `make run` to the UI's first answer (s) | {fmt(h['ready_s'])} | ≤ 15 |",
        (
            f"| XQuAD-ar hybrid recall@5, {dtype} / float32 | {fmt(h['xquad_ar_recall@5'], 3)} / "
            f"{fmt(h['xquad_ar_recall@5_fp32'], 3)} (drop {fmt(recall_drop, 3)}) | drop ≤ 0.005 |"
        ),
        (
            f"| Article extraction F1, 91 news pages (`bench/extraction.py`) | {fmt(h.get('extraction_f1'), 3)} "
            f"({fmt(h.get('extraction_empty_pages'))} pages without text) | ≥ 0.95, none empty |"
        ),
        (
            f"| `rag index --ray` throughput / in-process, {s.get('ray', {}).get('articles', 300)} articles "
            f"(`bench/distributed.py`) | {fmt(h.get('ray', {}).get('build_ratio'), 3)} (Ray start-up "
            f"{fmt(h.get('ray', {}).get('startup_s'))} s apart) | ≥ 0.85 |"
        ),
        "",
    ]
    if ix:
        lines += [
            f"## Indexing ({ix['articles']} corpus articles, {ix['chunks']} chunks, {ix['tokens']:,} tokens)",
            "",
            "| | seconds | tokens/s | chunks/s |",
            "|---|---|---|---|",
            (
                f"| `rag index` build (model load, reading, chunking, embedding, writing) | {fmt(ix['index_build_s'])} "
                f"| {fmt(ix['index_tokens_per_s'], 0)} | {fmt(ix['index_chunks_per_s'], 2)} |"
            ),
            (
                f"| `rag index` process (with Python start and imports) | {fmt(ix['index_process_s'])} "
                f"| {fmt(ix['tokens'] / ix['index_process_s'], 0)} | {fmt(ix['chunks'] / ix['index_process_s'], 2)} |"
            ),
            (
                f"| raw `encode_document`, same texts, {dtype} | {fmt(ix['raw_encode_s'])} "
                f"| {fmt(ix['embed_tokens_per_s'], 0)} | {fmt(ix['embed_chunks_per_s'], 2)} |"
            ),
            "",
            (
                f"Index size on disk: {fmt(ix['index_bytes_per_1k_chunks'] / 2**20, 2)} MB per 1k chunks "
                "(vectors, BM25, SQLite with the article texts)."
            ),
            "",
        ]
    quality = s.get("quality", {})
    if "xquad_ar_dense_recall@5_int8" in quality and "embed_int8_sample_tokens_per_s" in ix:
        lines += [
            (
                f"## Embedder arithmetic (speed: the first {ix['fp32_sample_chunks']} chunks above; "
                f"recall: XQuAD-ar, {quality['xquad_ar_questions']:,} questions)"
            ),
            "",
            "| embed_dtype | tokens/s | hybrid recall@1 | hybrid recall@5 | dense recall@1 | dense recall@5 |",
            "|---|---|---|---|---|---|",
        ]
        for name, key, suffix in (
            ("float32", "fp32", "_fp32"),
            ("bfloat16", "bf16", "_bf16"),
            ("int8", "int8", "_int8"),
        ):
            speed = ix["embed_fp32_tokens_per_s"] if key == "fp32" else ix[f"embed_{key}_sample_tokens_per_s"]
            cells = [
                f"{quality[f'xquad_ar_{m}{suffix}']:.3f}"
                for m in ("recall@1", "recall@5", "dense_recall@1", "dense_recall@5")
            ]
            label = f"**{name}** (default)" if name == dtype else name
            lines.append(f"| {label} | {speed:,.0f} | " + " | ".join(cells) + " |")
        lines.append("")
    if "search" in s:
        lines += [
            "## Search latency (ms, p50 / p95 over 200 XQuAD-ar questions, hybrid, k=5)",
            "",
            "Real news text in the chunks (120-word windows of the corpus); the FAISS vectors of these synthetic",
            "indexes are random unit vectors (embedding 100k chunks would take hours); queries are embedded by",
            "the real model, afresh each time.",
            "",
            "| chunks | " + " | ".join(search_latency.STAGES) + " | total | total without embedding |",
            "|---|" + "---|" * (len(search_latency.STAGES) + 2),
        ]
        for size, stages in s["search"]["stages_ms"].items():
            cells = [f"{v['p50_ms']:.1f} / {v['p95_ms']:.1f}" for v in stages.values()]
            lines.append(f"| {int(size):,} | " + " | ".join(cells) + " |")
        lines.append("")
    if an:
        lines += [
            f"## Answering (generate mode, Gemma-3-270M Q4_K_M, {an['questions']} seed questions, medians)",
            "",
            (
                "| prompt tokens | time to first token | whole answer | llama-cpp-python alone: first token "
                "| ratio | llama-cpp-python tokens/s |"
            ),
            "|---|---|---|---|---|---|",
            (
                f"| {fmt(an['prompt_tokens_median'], 0)} | {fmt(an['ttft_median_s'], 2)} s | {fmt(an['answer_median_s'], 2)} s "
                f"| {fmt(an['llama_ttft_median_s'], 2)} s | {fmt(an['ttft_vs_llama_ratio'], 2)} "
                f"| {fmt(an['llama_tokens_per_s'], 0)} |"
            ),
            "",
            "Ours counts from the question (retrieval and evidence ranking included); llama-cpp-python alone",
            "evaluates the same prompt string on a fresh context. Ours reuses the KV cache of the prompt's fixed",
            "examples, evaluated once when the model loads.",
            "",
        ]
    if sv:
        lines += [
            "## Serving",
            "",
            f"- `make run` on a set-up checkout to the first answer through the UI's API: {fmt(sv['ready_s'])} s",
            (
                f"- memory of `rag serve` after one answer, peak / resident: {fmt(sv['serve_peak_rss_mb'], 0)} / "
                f"{fmt(sv.get('serve_rss_mb'), 0)} MB (extractive, the default), {fmt(sv['serve_peak_rss_mb_generate'], 0)}"
                f" / {fmt(sv.get('serve_rss_mb_generate'), 0)} MB (generate mode, LLM loaded); the peak comes from"
                " loading the embedder's float32 weights before its linear layers are quantised"
            ),
            "",
        ]
    if hp := s.get("http"):
        lines += http_section(hp)
    if ray := s.get("ray"):
        lines += ray_section(ray)
    if stores := s.get("scale"):
        lines += scale_section(stores)
    if builds := s.get("builds"):
        lines += builds_section(builds)
    if reader := s.get("reader_process"):
        lines += reader_section(reader)
    if cold := s.get("cold_start"):
        lines += cold_section(cold)
    for notes in (TRIALS, ONE_OFF):
        if notes.exists():
            lines += [notes.read_text().strip(), ""]
    return "\n".join(lines)


def builds_section(builds: dict[str, Any]) -> list[str]:
    """The llama.cpp builds side by side (bench/llama_builds.py)."""
    lines = [
        (
            f"## llama.cpp builds ({builds['model']}, {builds['prompt_tokens']} prompt tokens then "
            f"{builds['generated_tokens']} generated, {builds['threads']} thread(s); tokens/s min / median / max)"
        ),
        "",
        "| build | prompt tokens/s | generated tokens/s | what llama.cpp runs on |",
        "|---|---|---|---|",
    ]
    for label, build in builds["builds"].items():
        if "error" in build:
            lines.append(f"| {label} | – | – | {build['error']} |")
            continue
        prompt, generate = build["prompt_tokens_per_s"], build["tokens_per_s"]
        lines.append(
            f"| {label} | {prompt['min']:,.0f} / **{prompt['median']:,.0f}** / {prompt['max']:,.0f} "
            f"| {generate['min']:,.1f} / **{generate['median']:,.1f}** / {generate['max']:,.1f} | {build['system']} |"
        )
    lines += [
        "",
        "`make setup` builds the first level whose instructions this CPU lists and, for AMX, whose start a probe",
        "compiled here ran (`rag/llama_build.py`); `rag models` then runs the reader once in a child process.",
        "",
    ]
    if COMPILE.exists():  # bench/llama_compile.py, a one-off (about 8 minutes)
        compiled = json.loads(COMPILE.read_text())
        times = {name: min(seconds) for name, seconds in compiled["seconds"].items()}
        lines += [
            (
                f"Compile ({compiled['level']} flags, {compiled['compiler']}, `bench/llama_compile.py`): "
                + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in times.items())
                + f"; leaving out the multimodal library, which the Python package never loads, saves "
                f"{compiled['saved_s']:.0f} s."
            ),
            "",
        ]
    return lines


def cold_section(cold: dict[str, Any]) -> list[str]:
    """A new `rag search` / `rag ask` process, whole and by stage (bench/cold_start.py)."""
    search, ask = cold["search_s"], cold["ask_s"]
    lines = [
        f"## A cold start (a new process over the seed index, {cold['rounds']} rounds alternated; seconds)",
        "",
        "| command | min | median | max | target |",
        "|---|---|---|---|---|",
        f"| `rag search` | {search['min']:.2f} | **{search['median']:.2f}** | {search['max']:.2f} | ≤ 1.5 |",
        f"| `rag ask` | {ask['min']:.2f} | **{ask['median']:.2f}** | {ask['max']:.2f} | ≤ 3 |",
        "",
        "Where a cold `rag ask` spends it (medians; the same steps with a clock between them, one after another):",
        "",
        "| stage | seconds |",
        "|---|---|",
        *(f"| {stage} | {taken:.2f} |" for stage, taken in cold["stages_s"].items()),
        "",
    ]
    return lines


def reader_section(reader: dict[str, Any]) -> list[str]:
    """What the reader's child process costs an answer (bench/reader_process.py)."""
    alone, child = reader["in this process"], reader["in a child process"]
    return [
        f"## The reader in a child process ({reader['questions']} seed questions x {reader['rounds']} rounds, extractive)",
        "",
        "| reader | answer, median | answer, mean |",
        "|---|---|---|",
        f"| in this process | {alone['answer_median_s']:.3f} s | {alone['answer_mean_s']:.3f} s |",
        f"| in a child process (the default) | {child['answer_median_s']:.3f} s | {child['answer_mean_s']:.3f} s |",
        "",
        (
            f"Added per answer: {reader['added_median_s'] * 1000:+.0f} ms at the median; the same answers: "
            f"{'yes' if reader['same_answers'] else 'NO'}. The child holds the model: "
            f"{fmt(reader.get('child_rss_mb'), 0)} MB resident, against {fmt(reader.get('this_process_rss_mb_added_by_in_process_model'), 0)}"
            " MB that the model added to this process when in it."
        ),
        "",
    ]


def scale_section(stores: dict[str, Any]) -> list[str]:
    """The index stores at 10k and 100k chunks (bench/scale.py)."""
    columns = ("build_s", "open_s", "update_s", "delete_s", "unchanged_s", "search_p50_ms", "search_p95_ms")
    columns += ("search_with_embedding_p50_ms", "rss_mb", "disk_mb")
    lines = [
        (
            "## Index stores (`bench/scale.py`: 2,500 real corpus chunks and vectors, and noised copies of them; "
            "store time only, no embedding)"
        ),
        "",
        "| store | chunks | " + " | ".join(columns) + " |",
        "|---|---|" + "---|" * len(columns),
    ]
    for backend, sizes in stores["backends"].items():
        for size, figures in sizes.items():
            values = " | ".join(fmt(figures.get(c), 3 if c.endswith("_s") else 1) for c in columns)
            lines.append(f"| {backend} | {size} | {values} |")
    lines.append("")
    for backend, sizes in stores["backends"].items():
        if "10k" in sizes and "100k" in sizes:
            ratio = sizes["100k"]["update_s"] / sizes["10k"]["update_s"]
            lines.append(f"- {backend}: one-article change at 100k chunks / at 10k: {fmt(ratio, 2)}")
    return [*lines, ""]


def ray_section(ray: dict[str, Any]) -> list[str]:
    """`rag index --ray` against an in-process build (bench/distributed.py)."""
    lines = [
        (
            f"## Distributed build (`bench/distributed.py`: {ray['articles']} corpus articles, {ray['chunks']} chunks, "
            f"no embedding cache, a local Ray cluster of {fmt(ray['cluster_cpus'], 0)} CPUs)"
        ),
        "",
        "| build | actors | seconds | chunks/s | / in-process | same chunks |",
        "|---|---|---|---|---|---|",
        f"| in process | – | {fmt(ray['in_process_build_s'])} | {fmt(ray['in_process_chunks_per_s'], 2)} | 1 | – |",
    ]
    for name, run in ray["layouts"].items():
        lines.append(
            f"| Ray, {name.replace('_', ' ')} | {run['actors']} | {fmt(run['build_s'])} | {fmt(run['chunks_per_s'], 2)} "
            f"| {fmt(run['ratio'], 3)} | {run['same_chunks']} |"
        )
    lines += ["", f"Starting the local Ray cluster: {fmt(ray['startup_s'])} s (not in the builds above).", ""]
    return lines


def http_section(hp: dict[str, Any]) -> list[str]:
    """The HTTP API under load (bench/load.py)."""
    lines = [
        "## HTTP API under load (`bench/load.py`: seed questions streamed over SSE, mixed with searches)",
        "",
        (
            "| clients | requests/s | ask p50 / p95 (s) | first SSE event p50 (s) | first text p50 (s) "
            "| search p50 / p95 (ms) | 429 | errors |"
        ),
        "|---|---|---|---|---|---|---|---|",
    ]
    for lv in hp["http_levels"]:
        search = [None if v is None else v * 1000 for v in (lv["search_p50_s"], lv["search_p95_s"])]
        lines.append(
            f"| {lv['clients']} | {fmt(lv['requests_per_s'], 2)} | {fmt(lv['ask_p50_s'], 2)} / {fmt(lv['ask_p95_s'], 2)} "
            f"| {fmt(lv['first_event_p50_s'], 3)} | {fmt(lv['first_text_p50_s'], 2)} "
            f"| {fmt(search[0], 1)} / {fmt(search[1], 1)} | {lv['rejected_429']} | {lv['errors']} |"
        )
    ask_ratio, search_ratio = fmt(hp["http_ask_p50_ratio"], 2), fmt(hp["http_search_p50_ratio"], 2)
    lines += [
        "",
        "One client, each call timed alternately in process and over HTTP (same questions, same machine load):",
        (
            f"- `/v1/ask` p50 {fmt(hp['http_paired_ask_p50_s'], 2)} s, {ask_ratio}× `Assistant.ask` "
            f"({fmt(hp['http_in_process_ask_p50_s'], 2)} s; target ≤ 1.1)"
        ),
        (
            f"- `/v1/search`, a new query (embedded): p50 {fmt(hp['http_paired_fresh_search_p50_s'] * 1000, 1)} ms, "
            f"{fmt(hp['http_fresh_search_p50_ratio'], 2)}× `Index.search` "
            f"({fmt(hp['http_in_process_fresh_search_p50_s'] * 1000, 1)} ms; target ≤ 1.15)"
        ),
        (
            f"- `/v1/search`, a repeated query (its embedding cached): p50 "
            f"{fmt(hp['http_paired_search_p50_s'] * 1000, 1)} ms, {search_ratio}× "
            f"({fmt(hp['http_in_process_search_p50_s'] * 1000, 1)} ms): the HTTP round trip itself"
        ),
        (
            f"- throughput at 4 clients / at 1: {fmt(hp['http_throughput_4_over_1'], 2)} (target ≥ 1); errors other "
            f"than 429 at the most clients: {hp['http_errors_at_max_clients']} (target 0)"
        ),
        (
            f"- answers made at once: {hp.get('http_answer_workers', 1)} (`RAG_SERVER__ANSWER_WORKERS`), on "
            f"{hp.get('http_llm_contexts', 1)} llama.cpp contexts (`RAG_LLM__CONTEXTS`)"
        ),
        f"- peak memory of the server: {fmt(hp['http_peak_memory_mb'], 0)} MB",
        "",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections to run")
    args = parser.parse_args()
    previous = json.loads(RESULTS_JSON.read_text()) if RESULTS_JSON.exists() else {}
    sections: dict[str, Any] = previous.get("sections", {})
    # Each section's machine: a section kept from an earlier run keeps the machine it was measured on.
    machines = {name: previous.get("machines", {}).get(name, previous.get("machine")) for name in sections}
    for name in filter(None, args.only.split(",")):
        started = time.perf_counter()
        print(f"== {name}", flush=True)
        sections[name] = SECTIONS[name]()
        machines[name] = machine()
        print(json.dumps(sections[name], indent=1, ensure_ascii=False), f"\n({time.perf_counter() - started:.0f}s)")
    figures = headline(sections)
    most = max(machines.values(), key=list(machines.values()).count)
    results = {**figures, "machine": most, "machines": machines, "sections": sections}
    RESULTS_JSON.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    REPORT.write_text(markdown(json.loads(RESULTS_JSON.read_text())) + "\n")
    docs.main([])  # the README's headline figures follow the new results
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
