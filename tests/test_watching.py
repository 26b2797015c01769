"""rag/watching.py: a change in the articles folder triggers a rebuild."""

import threading
import time
from pathlib import Path

from rag.config import ChunkSettings, EmbedderSettings, Settings
from rag.stores.local import read_manifest
from rag.watching import watch


def test_new_file_is_indexed_by_the_watcher(tmp_path: Path, fake_embedder):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "a.txt").write_text("خبر أول عن الزيتون.", encoding="utf-8")
    settings = Settings(
        seeds_dir=seeds,
        index_dir=tmp_path / "index",
        embedder=EmbedderSettings(model="fake-embedder"),
        chunking=ChunkSettings(max_tokens=20, overlap_tokens=2),
    )
    reports = []
    stop = threading.Event()
    thread = threading.Thread(target=watch, args=(settings, reports.append, 0.2, stop, fake_embedder))
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not reports and time.monotonic() < deadline:
            time.sleep(0.1)
        (seeds / "b.txt").write_text("خبر ثان عن الموانئ.", encoding="utf-8")
        while time.monotonic() < deadline and not any(r.added == 1 and r.unchanged == 1 for r in reports):
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert reports[0].added == 1
    assert any(r.added == 1 and r.unchanged == 1 for r in reports), reports
    assert set(read_manifest(settings.index_dir).articles) == {"a.txt", "b.txt"}
