"""The reader probe: a child that dies (a real SIGSEGV) is reported in one line, and `rag models` then exits 3,
naming the fix, and marks the build so that it is not used again."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rag import llama_build
from rag.cli import READER_CANNOT_RUN, app
from rag.generators import probe as probe_module
from rag.generators.probe import ProbeResult, cpu_features, probe

SEGFAULT = [sys.executable, "-c", "import ctypes; ctypes.string_at(0)"]
REPORTS = [
    sys.executable,
    "-c",
    (
        'import json; print("llama.cpp says hello"); '
        'print(json.dumps({"system": "AVX2 AVX512", "prompt_tokens_per_s": 500.0, "tokens_per_s": 40.0}))'
    ),
]


def test_a_child_that_dies_by_sigsegv_is_reported_in_one_line(tmp_path: Path):
    result = probe(tmp_path / "model.gguf", command=SEGFAULT)
    assert not result.ok and result.error.startswith("the reader died by SIGSEGV on this CPU")
    assert "\n" not in result.line()


def test_a_child_that_reports_gives_its_figures(tmp_path: Path):
    result = probe(tmp_path / "model.gguf", command=REPORTS)
    assert result == ProbeResult(True, "AVX2 AVX512", 500.0, 40.0)
    assert result.line() == "llama.cpp on CPU with AVX2 AVX512: 500 prompt tokens/s, 40 generated tokens/s"
    fails = probe(tmp_path / "model.gguf", command=[sys.executable, "-c", "raise SystemExit('no such model')"])
    assert not fails.ok and fails.error == "the reader exited with 1: no such model"
    hangs = probe(tmp_path / "model.gguf", command=[sys.executable, "-c", "import time; time.sleep(30)"], timeout=1)
    assert not hangs.ok and "did not finish" in hangs.error


def test_system_info_features():
    info = "CPU : SSE3 = 1 | AVX = 1 | AVX512 = 0 | AMX_INT8 = 1 | LLAMAFILE = 1 |"
    assert cpu_features(info) == "SSE3 AVX AMX_INT8 LLAMAFILE"


@pytest.fixture
def no_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Settings that provision nothing: an embedding server's URL and a GGUF path (the probe never reads it)."""
    model = tmp_path / "reader.gguf"
    model.write_bytes(b"GGUF")
    monkeypatch.setenv("RAG_EMBEDDER__MODEL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("RAG_LLM__MODEL", str(model))
    monkeypatch.setattr(sys, "prefix", str(tmp_path))  # the environment a probe is recorded in: this test's own
    return model


def test_rag_models_exits_3_and_marks_the_build_when_the_reader_dies(
    tmp_path: Path, no_models: Path, monkeypatch: pytest.MonkeyPatch
):
    cache, prefix = tmp_path / "wheels", tmp_path / "venv"
    prefix.mkdir()
    record = {"key": "llama-cpp-python-test-build", "cache": str(cache), "library": "installed"}
    (prefix / llama_build.RECORD).write_text(json.dumps(record))
    monkeypatch.setattr(sys, "prefix", str(prefix))
    monkeypatch.setattr(llama_build, "installed_library", lambda: "installed")
    monkeypatch.setattr(probe_module, "probe", lambda model, threads=None: probe(model, command=SEGFAULT))
    done = CliRunner().invoke(app, ["models"])
    assert done.exit_code == READER_CANNOT_RUN
    error = [line for line in done.output.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "died by SIGSEGV" in error[0] and "make models" in error[0]
    assert "SIGSEGV" in (cache / "llama-cpp-python-test-build" / llama_build.FAILED).read_text()


def test_rag_models_names_another_fix_for_a_build_it_did_not_make(
    tmp_path: Path, no_models: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(sys, "prefix", str(tmp_path))  # no record: llama-cpp-python came another way
    monkeypatch.setattr(probe_module, "probe", lambda model, threads=None: probe(model, command=SEGFAULT))
    done = CliRunner().invoke(app, ["models"])
    assert done.exit_code == READER_CANNOT_RUN and "CMAKE_ARGS" in done.output and "RAG_LLM__MODEL" in done.output


def test_rag_models_says_what_the_reader_runs_on(no_models: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(probe_module, "probe", lambda model, threads=None: probe(model, command=REPORTS))
    done = CliRunner().invoke(app, ["models"])
    assert done.exit_code == 0 and "reader: llama.cpp on CPU with AVX2 AVX512" in done.output


def test_a_reader_that_ran_is_not_probed_again_until_the_build_or_the_model_changes(
    no_models: Path, monkeypatch: pytest.MonkeyPatch
):
    probes: list[Path] = []

    def counted(model: Path, threads: int | None = None) -> ProbeResult:
        probes.append(model)
        return probe(model, command=REPORTS)

    monkeypatch.setattr(probe_module, "probe", counted)
    monkeypatch.setattr(llama_build, "installed_library", lambda: "build-1")
    first, again = CliRunner().invoke(app, ["models"]), CliRunner().invoke(app, ["models"])
    assert first.exit_code == again.exit_code == 0 and len(probes) == 1
    assert "reader: llama.cpp on CPU with AVX2 AVX512" in again.output
    monkeypatch.setattr(llama_build, "installed_library", lambda: "build-2")  # another wheel installed
    assert CliRunner().invoke(app, ["models"]).exit_code == 0 and len(probes) == 2
    no_models.write_bytes(b"GGUF, another model")
    assert CliRunner().invoke(app, ["models"]).exit_code == 0 and len(probes) == 3
