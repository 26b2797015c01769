"""End to end: the real models, a real index, real processes and servers on loopback ports. Every test in this
folder is marked e2e (`make test-fast` runs the others). The seed index is built once per run by the real
`rag index` and shared; a test that changes articles works on a copy of it (`seed_copy`)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rag.config import Settings
from rag.embedding import Embedder
from tests.helpers import SEEDS, rag

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seed article indexed by the real `rag index` command, once per run (read it, do not change it)."""
    path = tmp_path_factory.mktemp("seed") / "index"
    done = rag("index", "--seeds", str(SEEDS), "--index", str(path))
    assert "indexed 1 articles (1 added, 0 updated, 0 removed, 0 unchanged)" in done.stdout
    return path


def copy_of(seed_index: Path, root: Path) -> tuple[Path, Path]:
    """A copy of the seeds and of their index under `root`, to change: (seeds folder, index folder)."""
    seeds, index = root / "seeds", root / "index"
    shutil.copytree(SEEDS, seeds)
    shutil.copytree(seed_index, index, symlinks=True)
    return seeds, index


@pytest.fixture
def seed_copy(seed_index: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the seeds and of their index for this test: (seeds folder, index folder)."""
    return copy_of(seed_index, tmp_path)


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The real default embedder, loaded once per run."""
    return Embedder(Settings().embedder)
