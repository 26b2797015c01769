"""Fits `embedder.dtype`, `embedder.batch_size` and `llm.threads`. Speed trials behind the defaults: embedder dtype, int8, batch size, threads, Matryoshka dimensions,
FAISS index type, llama.cpp threads / batch / prompt-prefix reuse. Writes `bench/results/trials.md`
(included in BENCHMARKS.md) and `bench/results/trials.json`.

Embedding speed is measured on 120 real 200-token chunks of corpus articles; quality as dense
recall@5 of whole XQuAD-ar passages (240) for its 1,190 questions, against float32.

    python -m bench.calibrate.trials
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from bench.paths import ROOT, SHARED
from rag.config import Settings
from rag.embedders.local import load_sentence_transformer
from rag.embedding import Embedder
from rag.evaluate import read_jsonl
from rag.models import embedder_location, llm_location
from rag.prompts import COMPLETION_EXAMPLES, completion_prompt

OUT = ROOT / "bench/results"
# Measured once in a separate venv (sentence-transformers 5.7.0, transformers 4.57.6, optimum-onnx 0.1.0,
# onnxruntime 1.32.0): optimum-onnx does not install beside transformers 5.x, which this project uses.
ONNX_INT8 = (
    "| ONNX Runtime int8 (dynamic, avx512_vnni), separate venv | 1,724 (torch float32 in the same run: 555, "
    "ONNX float32: 715) | 0.964 | 0.974 (float32 0.981) | rejected: recall −0.007, recall@1 −0.035 |"
)


def corpus_inputs(count: int, embedder: Embedder) -> list[str]:
    from rag.chunking import chunk_article
    from rag.types import Article

    documents: list[tuple[str, str]] = []
    for record in read_jsonl(SHARED / "corpus/antcorpus-ar-news.jsonl.gz", 200):
        article = Article(str(record["id"]), record["title"], record["text"], "x", "x")
        documents += [
            (article.title, c.text) for c in chunk_article(article, embedder.count_tokens, Settings().chunking)
        ]
    return embedder.model.inputs(documents[:count])  # type: ignore[attr-defined]


def load(dtype: str) -> Any:
    """The default embedder as `rag` loads it, in `dtype` ("float32", "bfloat16" or "int8")."""
    settings = Settings()
    return load_sentence_transformer(str(embedder_location(settings.embedder.model, settings.models_dir)), dtype)  # type: ignore[arg-type]


def tokens_per_s(model: Any, inputs: list[str], batch_size: int | None = None) -> tuple[float, np.ndarray]:
    batch_size = batch_size or Settings().embedder.batch_size
    model.encode_document(inputs[:batch_size], prompt="", batch_size=batch_size)
    tokens = sum(len(ids) for ids in model.tokenizer(inputs)["input_ids"])
    started = time.perf_counter()
    vectors = model.encode_document(inputs, prompt="", batch_size=batch_size, normalize_embeddings=True)
    return tokens / (time.perf_counter() - started), np.asarray(vectors)


def xquad_vectors(model: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit vectors of whole XQuAD-ar passages (title in the prompt) and questions, and each question's gold row."""
    passages = read_jsonl(SHARED / "eval/xquad_ar/passages.jsonl")
    questions = read_jsonl(SHARED / "eval/xquad_ar/questions.jsonl")
    template = model.prompts["document"]
    documents = [
        template.replace("title: none", f"title: {p['title'].replace('_', ' ')}") + p["text"] for p in passages
    ]
    d = np.asarray(model.encode_document(documents, prompt="", batch_size=8))
    q = np.asarray(model.encode_query([x["question"] for x in questions], batch_size=32))
    position = {p["id"]: i for i, p in enumerate(passages)}
    return d, q, np.array([position[x["passage_id"]] for x in questions])


def dense_recall(vectors: tuple[np.ndarray, np.ndarray, np.ndarray], dimensions: int | None = None) -> float:
    """Dense recall@5 with the vectors cut to their first `dimensions` (Matryoshka) and renormalised."""
    d, q, gold = vectors
    d, q = d[:, :dimensions], q[:, :dimensions]
    d = d / np.linalg.norm(d, axis=1, keepdims=True)
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    top = np.argsort(-(q @ d.T), axis=1)[:, :5]
    return float((top == gold[:, None]).any(axis=1).mean())


def embedding_trials(rows: list[str], figures: dict[str, Any]) -> None:
    embedder = Embedder(Settings().embedder)
    inputs = corpus_inputs(120, embedder)
    fp32 = load("float32")
    speed, reference = tokens_per_s(fp32, inputs)
    recall = dense_recall(xquad_vectors(fp32))
    figures["fp32"] = {"tokens_per_s": speed, "recall@5": recall}
    rows.append(f"| float32 (reference) | {speed:,.0f} | 1.000 | {recall:.3f} | – |")
    del fp32

    def trial(key: str, model: Any) -> tuple[float, float, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Speed, cosine to float32 and dense recall@5 of `model`, kept in `figures[key]`; and its XQuAD vectors."""
        speed, vectors = tokens_per_s(model, inputs)
        xquad = xquad_vectors(model)
        cosine, recall = float((vectors * reference).sum(axis=1).mean()), dense_recall(xquad)
        figures[key] = {"tokens_per_s": speed, "cosine": cosine, "recall@5": recall}
        return speed, recall, xquad

    def verdict(recall: float, kept: str, rejected: str) -> str:
        return kept if recall >= figures["fp32"]["recall@5"] - 0.005 else rejected

    speed, recall, bf16_vectors = trial("bf16", load("bfloat16"))
    rows.append(f"| bfloat16 | {speed:,.0f} | {figures['bf16']['cosine']:.3f} | {recall:.3f} | kept as an option |")
    for dimensions in (512, 256, 128):
        cut = dense_recall(bf16_vectors, dimensions)
        figures[f"bf16_matryoshka_{dimensions}"] = cut
        rows.append(
            f"| bfloat16, Matryoshka {dimensions} dims (search and index size only; embedding speed unchanged) "
            f"| – | – | {cut:.3f} | {'rejected: recall drops' if cut < recall - 0.005 else 'not needed (HNSW)'} |"
        )
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    dynamic = load("float32")
    quantize_dynamic(dynamic[0].auto_model, {torch.nn.Linear: per_channel_dynamic_qconfig}, inplace=True)
    speed, recall, _ = trial("int8_torch_dynamic", dynamic)
    rows.append(
        f"| int8, torch dynamic quantisation (per channel) | {speed:,.0f} | {figures['int8_torch_dynamic']['cosine']:.3f} "
        f"| {recall:.3f} | {verdict(recall, 'candidate', 'rejected: vectors drift')} |"
    )
    del dynamic
    per_token = load("int8")
    speed, recall, _ = trial("int8_per_token", per_token)
    rows.append(
        f"| **int8, per-token activation scales (`rag/quantization.py`, default)** | {speed:,.0f} "
        f"| {figures['int8_per_token']['cosine']:.3f} | {recall:.3f} | {verdict(recall, 'kept', 'rejected')} |"
    )
    default = Settings().embedder.batch_size
    for batch in sorted({2, 4, 8, 10, 16, 32} - {default}):
        batch_speed, _ = tokens_per_s(per_token, inputs, batch)
        figures[f"int8_batch_{batch}"] = batch_speed
        kept = f"faster than {default}" if batch_speed > 1.05 * speed else f"{default} kept (within 5 % or slower)"
        rows.append(f"| int8, batch {batch} (default {default}) | {batch_speed:,.0f} | – | – | {kept} |")
    torch.set_num_threads(1)
    one_thread, _ = tokens_per_s(per_token, inputs)
    torch.set_num_threads(2)
    figures["int8_one_thread"] = one_thread
    rows.append(f"| int8, 1 torch thread (default: 2 = cores) | {one_thread:,.0f} | – | – | 2 kept |")
    rows.append(ONNX_INT8)


def faiss_trials(rows: list[str], figures: dict[str, Any]) -> None:
    import faiss

    from rag.embedding import EmbeddingCache
    from rag.stores.local import HNSW_EF_SEARCH, vector_search

    rng = np.random.default_rng(0)

    def timed(index: Any, queries: np.ndarray) -> tuple[np.ndarray, float]:
        found, laps = [], []
        for vector in queries:
            started = time.perf_counter()
            found.append(index.search(vector[None], 10)[1][0])
            laps.append(time.perf_counter() - started)
        return np.array(found), 1000 * float(np.percentile(laps, 95))

    settings = Settings().embedder
    # The largest embedding cache of this embedder, whatever its dtype (the vectors agree to cosine 0.998).
    caches = [EmbeddingCache(settings.cache, f"{settings.model}-{d}") for d in ("int8", "bfloat16")]  # type: ignore[arg-type]
    vectors = max(
        ([np.frombuffer(v, dtype=np.float32) for (v,) in c._db.execute("SELECT vector FROM vectors")] for c in caches),
        key=len,
    )
    real = np.stack(vectors)
    embedder = Embedder(settings)
    queries = np.stack(
        [embedder.encode_query(q["question"]) for q in read_jsonl(SHARED / "eval/xquad_ar/questions.jsonl", 200)]
    )
    for name, data, probe in (
        (f"{len(real):,} real chunk vectors (embedding cache), XQuAD questions", real, queries),
        ("100,000 random unit vectors (the hard case for a graph)", None, None),
    ):
        if data is None:
            data = rng.standard_normal((100_000, real.shape[1])).astype(np.float32)
            data /= np.linalg.norm(data, axis=1, keepdims=True)
            probe = rng.standard_normal((200, real.shape[1])).astype(np.float32)
            probe /= np.linalg.norm(probe, axis=1, keepdims=True)
        flat = faiss.IndexFlatIP(data.shape[1])
        flat.add(data)
        exact, flat_ms = timed(flat, probe)
        started = time.perf_counter()
        graph = vector_search(data.shape[1], len(data), 1)
        graph.add(data)
        built = time.perf_counter() - started
        approximate, graph_ms = timed(graph, probe)
        recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(approximate, exact)]))
        figures[f"hnsw_{len(data)}"] = {"flat_p95_ms": flat_ms, "hnsw_p95_ms": graph_ms, "recall@10": recall}
        rows.append(
            f"| {name} | flat {flat_ms:.1f} ms, HNSW {graph_ms:.1f} ms (p95; built in {built:.0f} s) "
            f"| HNSW recall@10 vs exact {recall:.3f} (efSearch {HNSW_EF_SEARCH}) |"
        )


def llama_trials(rows: list[str], figures: dict[str, Any]) -> None:
    from llama_cpp import Llama

    settings = Settings()
    path = str(llm_location(settings.llm.model, settings.models_dir))
    evidence = [p["text"][:300] for p in read_jsonl(SHARED / "eval/xquad_ar/passages.jsonl", 3)]
    prompt = completion_prompt("من فاز بالمباراة؟", evidence)

    def first_token(llm: Llama, reset: bool = True) -> float:
        if reset:
            llm.reset()
        started = time.perf_counter()
        for _ in llm.create_completion(prompt, max_tokens=1, temperature=0.0, stream=True):
            break
        return time.perf_counter() - started

    def median(run: Callable[[], float]) -> float:
        return float(np.median([run() for _ in range(5)]))

    tokens = len(Llama(path, n_ctx=4096, verbose=False, vocab_only=True).tokenize(prompt.encode()))
    for threads, batch in ((2, 512), (1, 512), (2, 128), (2, 32)):
        llm = Llama(path, n_ctx=4096, n_threads=threads, n_batch=batch, verbose=False)
        seconds = median(lambda: first_token(llm))  # noqa: B023 - called at once
        figures[f"llama_threads_{threads}_batch_{batch}"] = seconds
        default = (threads, batch) == (max((os.cpu_count() or 2) // 2, 1), 512)  # llama-cpp-python's own defaults
        rows.append(
            f"| {threads} threads, n_batch {batch} | {tokens} | {seconds:.2f} s | {'default' if default else ''} |"
        )
    llm = Llama(path, n_ctx=4096, verbose=False)

    def with_prefix() -> float:
        llm.reset()
        llm.eval(llm.tokenize(COMPLETION_EXAMPLES.encode(), add_bos=True))
        return first_token(llm, reset=False)

    seconds = median(with_prefix)
    figures["llama_prefix_reused"] = seconds
    rows.append(
        f"| default threads, n_batch 512, fixed examples' KV cache reused | {tokens} | {seconds:.2f} s | default |"
    )


def main() -> None:
    figures: dict[str, Any] = {}
    embedding: list[str] = []
    embedding_trials(embedding, figures)
    search: list[str] = []
    faiss_trials(search, figures)
    llama: list[str] = []
    llama_trials(llama, figures)
    text = "\n".join(
        [
            f"## Trials ({time.strftime('%Y-%m-%d')}, `python -m bench.calibrate.trials`)",
            "",
            "Embedding: 120 real 200-token news chunks; quality as dense recall@5 of whole XQuAD-ar passages",
            "(1,190 questions), which moves more than the hybrid pipeline's.",
            "",
            "| variant | tokens/s | cosine to float32 | dense recall@5 | verdict |",
            "|---|---|---|---|---|",
            *embedding,
            "",
            "| vector search | per query | quality |",
            "|---|---|---|",
            *search,
            "",
            "| llama.cpp (Gemma-3-270M Q4_K_M) | prompt tokens | time to first token (median of 5) | |",
            "|---|---|---|---|",
            *llama,
        ]
    )
    OUT.mkdir(exist_ok=True)
    (OUT / "trials.md").write_text(text + "\n")
    (OUT / "trials.json").write_text(json.dumps(figures, indent=1) + "\n")
    print(text)


if __name__ == "__main__":
    main()
