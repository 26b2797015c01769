"""Incremental indexing benchmark: full build of N corpus articles, then one article changed, then an
unchanged re-run, one article renamed, one deleted, each timed as a real `rag index` process (fresh
embedding cache, so the full build embeds everything); then one more change with `rag watch` running,
which `rag index` hands its build to.

    python bench/incremental.py [--articles 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rag.evaluate import read_jsonl

SHARED = Path(__file__).resolve().parents[2] / "shared"


def timed_index(seeds: Path, index: Path, env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "rag.cli", "index", "--seeds", str(seeds), "--index", str(index)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    handed_to = [line for line in done.stderr.splitlines() if line.startswith("building in the running process")]
    return time.perf_counter() - started, " ".join([*handed_to, done.stdout.strip()])


def change(path: Path, addition: str) -> None:
    record = json.loads(path.read_text(encoding="utf-8"))
    record["text"] += addition
    path.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")


def timed_index_with_watcher(seeds: Path, index: Path, env: dict[str, str], changed: Path) -> tuple[float, str]:
    """Start `rag watch`, wait for its first (up-to-date) pass, change one article, time `rag index`."""
    watcher = subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "watch", "--seeds", str(seeds), "--index", str(index)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert watcher.stdout is not None
        for line in watcher.stdout:
            if " articles: " in line:  # its first pass is done and it listens for builds
                break
        change(changed, "\nتحديث ثالث للخبر.")
        return timed_index(seeds, index, env)
    finally:
        watcher.send_signal(signal.SIGTERM)  # stops it like Ctrl-C (`rag watch` handles both)
        watcher.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rag-bench-") as tmp:
        seeds, index = Path(tmp) / "seeds", Path(tmp) / "index"
        seeds.mkdir()
        records = read_jsonl(SHARED / "corpus/antcorpus-ar-news.jsonl.gz", args.articles)
        for record in records:
            (seeds / f"news-{record['id']}.json").write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
        env = dict(os.environ, HF_HUB_OFFLINE="1", RAG_MODELS__EMBEDDING_CACHE=str(Path(tmp) / "cache"))
        full, full_out = timed_index(seeds, index, env)
        changed = seeds / f"news-{records[len(records) // 2]['id']}.json"
        change(changed, "\nتحديث: أضيفت هذه الفقرة بعد النشر الأول للخبر.")
        update, update_out = timed_index(seeds, index, env)
        unchanged, unchanged_out = timed_index(seeds, index, env)
        renamed = seeds / f"news-{records[1]['id']}.json"
        renamed.rename(seeds / f"خبر {records[1]['id']}.json")  # same title and text: chunks and vectors kept
        rename, rename_out = timed_index(seeds, index, env)
        (seeds / f"news-{records[2]['id']}.json").unlink()
        delete, delete_out = timed_index(seeds, index, env)
        handed, handed_out = timed_index_with_watcher(seeds, index, env, changed)
        # The same one-article update inside a running process (`rag watch`, the app's rebuild button),
        # where the embedder is already loaded.
        os.environ["RAG_MODELS__EMBEDDING_CACHE"] = env["RAG_MODELS__EMBEDDING_CACHE"]
        from rag import Settings, build_index
        from rag.embedding import Embedder

        settings = Settings(seeds_dir=seeds, index_dir=index)
        embedder = Embedder(settings.models)
        embedder.encode_query("warm up")
        change(changed, "\nتحديث ثان للخبر نفسه.")
        started = time.perf_counter()
        report = build_index(settings, embedder, show_progress=False)
        warm = time.perf_counter() - started
    print(f"full build ({len(records)} articles): {full:.1f}s  | {full_out}")
    print(f"one article changed: {update:.1f}s ({100 * update / full:.1f}% of the full build)  | {update_out}")
    print(f"unchanged re-run: {unchanged:.1f}s  | {unchanged_out}")
    print(f"one article renamed: {rename:.1f}s ({100 * rename / full:.1f}%)  | {rename_out}")
    print(f"one article deleted: {delete:.1f}s ({100 * delete / full:.1f}%)  | {delete_out}")
    print(
        f"one article changed, `rag index` with `rag watch` running: {handed:.1f}s "
        f"({100 * handed / full:.1f}% of the full build)  | {handed_out}"
    )
    print(
        f"one article changed, in a running process (model loaded): {warm:.1f}s ({100 * warm / full:.1f}%), "
        f"{report.embedded} chunks embedded, {report.unchanged} articles reused"
    )


if __name__ == "__main__":
    main()
