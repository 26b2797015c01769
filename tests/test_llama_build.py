"""Which llama.cpp build a CPU gets, the wheel cache keyed by it, and a build that failed the reader probe."""

from __future__ import annotations

import json
import platform
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from rag import llama_build
from rag.llama_build import FAILED, Build, builds, cached_wheel, choose, cpu_flags, exit_reason, mark_failed
from tests.helpers import REPO

SAPPHIRE_RAPIDS = frozenset(
    [
        "sse4_2",
        "avx",
        "avx2",
        "fma",
        "f16c",
        "bmi2",
        "avx_vnni",
        "avx512f",
        "avx512cd",
        "avx512vl",
        "avx512dq",
        "avx512bw",
        "avx512vbmi",
        "avx512_vnni",
        "avx512_bf16",
        "amx_tile",
        "amx_int8",
        "amx_bf16",
    ]
)
ZEN2 = frozenset(["sse4_2", "avx", "avx2", "fma", "f16c", "bmi2"])
pytestmark = pytest.mark.skipif(platform.machine() != "x86_64", reason="the levels are x86's")


def test_levels_follow_the_cpu_and_amx_needs_its_probe():
    with_amx = builds(SAPPHIRE_RAPIDS, amx=True)
    assert [b.level for b in with_amx] == ["amx", "avx512", "avx2", "baseline"]
    assert {"GGML_AMX_INT8", "GGML_AVX512_VNNI", "GGML_AVX2"} <= set(with_amx[0].flags)
    without = builds(SAPPHIRE_RAPIDS, amx=False)
    assert [b.level for b in without] == ["avx512", "avx2", "baseline"]
    assert "-DGGML_AMX_INT8=OFF" in without[0].cmake_args and "-DGGML_AVX512_BF16=ON" in without[0].cmake_args
    assert "-DGGML_NATIVE=OFF" in without[0].cmake_args and "-DLLAVA_BUILD=OFF" in without[0].cmake_args
    zen2 = builds(ZEN2, amx=True)  # AMX proved but not listed: never on
    assert [b.level for b in zen2] == ["avx2", "baseline"]
    assert "-DGGML_AVX512=OFF" in zen2[0].cmake_args and "-DGGML_AMX_TILE=OFF" in zen2[0].cmake_args


def test_a_build_is_keyed_by_its_flags_and_its_compiler():
    ours = builds(SAPPHIRE_RAPIDS, amx=False, compiler="g++ 12.2.0")[0]
    assert ours.key == builds(SAPPHIRE_RAPIDS, amx=False, compiler="g++ 12.2.0")[0].key  # stable
    others = [
        builds(SAPPHIRE_RAPIDS, amx=True, compiler="g++ 12.2.0")[0],
        builds(ZEN2, amx=False, compiler="g++ 12.2.0")[0],
        builds(SAPPHIRE_RAPIDS, amx=False, compiler="g++ 13.1.0")[0],
    ]
    assert len({ours.key, *(o.key for o in others)}) == 4
    assert llama_build.VERSION in ours.key and ours.level in ours.key


def test_a_wheel_made_for_other_flags_is_not_taken_from_the_cache(tmp_path: Path):
    native_era = tmp_path / "llama_cpp_python-0.3.36-py3-none-linux_x86_64.whl"  # the old cache: by version alone
    native_era.write_bytes(b"")
    amx, avx512 = builds(SAPPHIRE_RAPIDS, amx=True)[:2]
    (tmp_path / amx.key).mkdir()
    made_for_amx = tmp_path / amx.key / native_era.name
    made_for_amx.write_bytes(b"")
    assert cached_wheel(tmp_path, avx512) is None
    assert cached_wheel(tmp_path, amx) == made_for_amx


def test_a_build_that_failed_the_probe_is_not_chosen_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    candidates = builds(SAPPHIRE_RAPIDS, amx=True)
    assert choose(tmp_path, candidates) == candidates[0]
    prefix = tmp_path / "venv"
    prefix.mkdir()
    record = {"key": candidates[0].key, "cache": str(tmp_path), "level": "amx", "library": "abc"}
    (prefix / llama_build.RECORD).write_text(json.dumps(record))
    assert mark_failed("died", prefix, library="another") is None  # not the build recorded: nothing marked
    assert choose(tmp_path, candidates) == candidates[0]
    assert mark_failed("the reader died by SIGSEGV on this CPU", prefix, library="abc") == candidates[0].key
    assert "SIGSEGV" in (tmp_path / candidates[0].key / FAILED).read_text()
    assert choose(tmp_path, candidates) == candidates[1]
    for build in candidates[1:]:
        (tmp_path / build.key).mkdir()
        (tmp_path / build.key / FAILED).write_text("failed\n")
    with pytest.raises(SystemExit, match="every llama-cpp-python build failed"):
        choose(tmp_path, candidates)


def test_no_record_no_mark(tmp_path: Path):
    """llama-cpp-python installed some other way: nothing to mark, the caller names another fix."""
    assert mark_failed("died", tmp_path) is None


def test_a_level_caps_the_builds(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(llama_build, "cpu_flags", lambda: SAPPHIRE_RAPIDS)
    monkeypatch.setattr(llama_build, "amx_usable", lambda cxx: (False, "probe failed"))
    assert [b.level for b in llama_build.plan()[0]] == ["avx512", "avx2", "baseline"]
    assert [b.level for b in llama_build.plan("avx2")[0]] == ["avx2", "baseline"]
    forced, why = llama_build.plan("amx")  # the user's word against the probe's
    assert forced[0].level == "amx" and "RAG_LLAMA_LEVEL" in why
    with pytest.raises(SystemExit, match="not one of"):
        llama_build.plan("avx9000")


def test_cpu_flags_and_exit_reasons(tmp_path: Path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse4_2 avx2 amx_tile\n\nprocessor\t: 1\nflags\t\t: fpu\n")
    assert cpu_flags(cpuinfo) == {"fpu", "sse4_2", "avx2", "amx_tile"}
    assert cpu_flags(tmp_path / "absent") == frozenset()
    assert exit_reason(-11) == "died by SIGSEGV" and exit_reason(2) == "exited with 2"


def test_build_module_runs_before_the_dependencies_are_installed():
    """`python -m rag.llama_build` runs before make setup installs anything else: with no site-packages at all
    (python -S), importing it and planning this machine's builds works."""
    code = "import rag.llama_build as b; print(len(b.builds(b.cpu_flags(), False)) >= 1)"
    done = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, cwd=REPO, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "True", done.stderr


def test_describe():
    assert Build("baseline", ("GGML_SSE42",)).describe() == "SSE42"


def test_a_build_compiles_with_its_flags_and_never_takes_pips_cached_wheel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """pip keeps built wheels by their source alone: a build that let it would get another build's wheel."""
    build = builds(SAPPHIRE_RAPIDS, amx=False)[0]
    seen: dict = {}

    def compile_(command: list[str], check: bool, env: dict[str, str]) -> None:
        seen.update(command=command, cmake_args=env["CMAKE_ARGS"])
        (Path(command[command.index("-w") + 1]) / "llama_cpp_python-0.3.36-py3-none-linux_x86_64.whl").write_bytes(b"")

    monkeypatch.setattr(llama_build.subprocess, "run", compile_)
    wheel = llama_build.build_wheel(tmp_path, build)
    assert "--no-cache-dir" in seen["command"] and shlex.split(seen["cmake_args"]) == list(build.cmake_args)
    assert wheel == cached_wheel(tmp_path, build) and wheel.parent.name == build.key
    assert json.loads((wheel.parent / "build.json").read_text())["cmake_args"] == list(build.cmake_args)
