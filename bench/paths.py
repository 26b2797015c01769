"""Where the benchmarks find things: the repository, the shared data beside it, and the results."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
EVAL = SHARED / "eval"
CORPUS = SHARED / "corpus" / "antcorpus-ar-news.jsonl.gz"
SEED_QA = EVAL / "seed_qa.jsonl"
RESULTS = ROOT / "bench" / "results"
