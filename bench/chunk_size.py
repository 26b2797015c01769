"""Choose the chunk budget by measurement: dense recall on XQuAD (ar and en->ar) for several chunk
sizes, with and without the article title in the embedder's document prompt.

    python bench/chunk_size.py [--configs 200:0,200:1,300:1,400:1]   # size:titles
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from rag import Settings
from rag.config import ChunkSettings
from rag.embedding import Embedder
from rag.evaluate import first_gold_rank, gold_article_id, read_jsonl, retrieval_metrics, temporary_index

SHARED = Path(__file__).resolve().parents[2] / "shared"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", default="200:0,200:1,300:1,400:1", help="size:titles pairs")
    args = parser.parse_args()
    base = Settings()
    embedder = Embedder(base.models)
    passages = read_jsonl(SHARED / "eval/xquad_ar/passages.jsonl")
    sets = {name: read_jsonl(SHARED / f"eval/{name}/questions.jsonl") for name in ("xquad_ar", "xquad_en2ar")}
    queries = {name: np.stack([embedder.encode_query(q["question"]) for q in qs]) for name, qs in sets.items()}
    print("config   chunks  set           recall@1  recall@5  recall@10  mrr@10")
    for config in args.configs.split(","):
        size, titles = int(config.split(":")[0]), config.split(":")[1] == "1"
        settings = base.model_copy(
            update={
                "chunking": ChunkSettings(max_tokens=size, overlap_tokens=min(30, size // 5)),
                "models": base.models.model_copy(update={"embed_titles": titles}),
            }
        )
        with temporary_index(settings, passages, embedder=embedder) as index:
            store = index.store
            for name, questions in sets.items():
                ranks = []
                for question, vector in zip(questions, queries[name]):
                    nearest = store.nearest(vector, 30)
                    articles = [h.article_id for h in store.hits(nearest, dict(nearest))]
                    ranks.append(first_gold_rank(articles, gold_article_id(question["passage_id"])))
                m = retrieval_metrics(ranks, [1, 5, 10])
                print(
                    f"{config:8} {store.size:6d}  {name:12} {m['recall@1']:9.3f} {m['recall@5']:9.3f} "
                    f"{m['recall@10']:10.3f} {m['mrr@10']:7.3f}"
                )


if __name__ == "__main__":
    main()
