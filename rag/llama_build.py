"""Build llama-cpp-python for this CPU, from what the CPU can really run, and keep the wheel in a cache keyed by it.

ggml's default (GGML_NATIVE=ON, -march=native) compiles every instruction the CPU lists, AMX included, but a CPU
may list AMX where the system does not let a process use it (llama.cpp then dies on `ldtilecfg` at the first
decode). So the build is not native: each x86 feature is a GGML_* flag of its own, on when /proc/cpuinfo lists it,
and AMX only where a child process proved it can configure AMX tiles. The wheel's cache folder is named by the
version and those flags, so no wheel is taken on a CPU it was not made for. When the reader probe (`rag models`)
fails with a build, the build is marked and the next one steps down a level: AMX, AVX-512, AVX2, baseline.

Standard library only: it runs before the package's dependencies are installed (`make setup`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

VERSION = "0.3.36"
REQUIREMENT = f"llama-cpp-python=={VERSION}"
RECORD = "rag-llama-build.json"  # in the environment's prefix: which cached build is installed there
FAILED = "probe-failed"  # in a build's cache folder: the reader probe failed with it (the reason inside)

# ggml's x86 options, each with the /proc/cpuinfo flags it needs, by level (a level keeps those before it).
LEVELS: dict[str, dict[str, tuple[str, ...]]] = {
    "baseline": {"GGML_SSE42": ("sse4_2",)},
    "avx2": {
        "GGML_AVX": ("avx",),
        "GGML_AVX2": ("avx2",),
        "GGML_FMA": ("fma",),
        "GGML_F16C": ("f16c",),
        "GGML_BMI2": ("bmi2",),
        "GGML_AVX_VNNI": ("avx_vnni",),
    },
    "avx512": {
        "GGML_AVX512": ("avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw"),
        "GGML_AVX512_VBMI": ("avx512vbmi",),
        "GGML_AVX512_VNNI": ("avx512_vnni",),
        "GGML_AVX512_BF16": ("avx512_bf16",),
    },
    "amx": {"GGML_AMX_TILE": ("amx_tile",), "GGML_AMX_INT8": ("amx_int8",), "GGML_AMX_BF16": ("amx_bf16",)},
}
# What the Python package never loads: the multimodal library (llava/mtmd).
COMMON_ARGS = ("-DGGML_NATIVE=OFF", "-DLLAVA_BUILD=OFF")

# ggml's AMX kernels as they start: ask the kernel for tile data, load ggml's tile configuration (written the way
# ggml writes it: GCC 12 drops the stores into it, and ggml then dies on `ldtilecfg`), multiply int8 tiles, check.
AMX_PROBE_CPP = r"""
#include <immintrin.h>
#include <cstdint>
#include <unistd.h>
#include <sys/syscall.h>
struct tile_config_t {
    uint8_t palette_id = 0;
    uint8_t start_row = 0;
    uint8_t reserved_0[14] = {0};
    uint16_t colsb[16] = {0};
    uint8_t rows[16] = {0};
};
__attribute__((noinline)) static void configure() {
    alignas(64) tile_config_t tc = {};
    tc.palette_id = 1;
    tc.rows[0] = 8;   tc.colsb[0] = 64;
    tc.rows[1] = 8;   tc.colsb[1] = 64;
    tc.rows[2] = 16;  tc.colsb[2] = 32;
    tc.rows[3] = 16;  tc.colsb[3] = 32;
    tc.rows[4] = 16;  tc.colsb[4] = 64;
    tc.rows[5] = 16;  tc.colsb[5] = 64;
    tc.rows[6] = 16;  tc.colsb[6] = 64;
    tc.rows[7] = 16;  tc.colsb[7] = 64;
    _tile_loadconfig(&tc);
}
int main() {
    if (syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XFEATURE_XTILEDATA */)) return 3;
    configure();
    alignas(64) static int8_t a[16 * 32], b[8 * 64];
    alignas(64) static int32_t c[16 * 16];
    for (int i = 0; i < 16 * 32; i++) a[i] = 1;
    for (int i = 0; i < 8 * 64; i++) b[i] = 2;
    _tile_zero(4);
    _tile_loadd(2, a, 32);
    _tile_loadd(0, b, 64);
    _tile_dpbssd(4, 2, 0);
    _tile_stored(4, c, 64);
    _tile_release();
    return c[0] == 64 && c[255] == 64 ? 0 : 4;  /* 32 products of 1 x 2 */
}
"""


def compiler() -> str:
    """The C++ compiler a build uses (CXX, else c++), as its path."""
    return shutil.which(os.environ.get("CXX", "c++")) or shutil.which("g++") or ""


def compiler_version(path: str) -> str:
    """The compiler's first --version line ('' when there is none)."""
    if not path:
        return ""
    done = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
    return (done.stdout.splitlines() or [""])[0].strip()


@dataclass(frozen=True)
class Build:
    """One way to build llama-cpp-python: its level, the GGML flags it turns on, and its cache key."""

    level: str
    flags: tuple[str, ...]

    @property
    def cmake_args(self) -> tuple[str, ...]:
        if self.level == "native":  # not x86: ggml's own -march=native (no AMX there)
            return ("-DLLAVA_BUILD=OFF",)
        every = [option for level in LEVELS.values() for option in level]
        return (*COMMON_ARGS, *(f"-D{option}={'ON' if option in self.flags else 'OFF'}" for option in every))

    compiler: str = ""  # the C++ compiler's --version line

    @property
    def key(self) -> str:
        """The cache folder's name: the version, the machine, the level, and a digest of the CMake arguments and
        the compiler (a build's AMX kernels run or not by the compiler that made them)."""
        named = " ".join((VERSION, platform.machine(), self.compiler, *self.cmake_args))
        return f"llama-cpp-python-{VERSION}-{platform.machine()}-{self.level}-{hashlib.sha256(named.encode()).hexdigest()[:12]}"

    def describe(self) -> str:
        return " ".join(f.removeprefix("GGML_") for f in self.flags) or "no x86 extensions"


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The flags the CPU lists (empty where /proc/cpuinfo is not there)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def amx_usable(cxx: str | None = None) -> tuple[bool, str]:
    """Whether ggml's AMX kernels can run here, built by this compiler: a child runs their start, and why not."""
    cxx = compiler() if cxx is None else cxx
    if not cxx:
        return False, "no C++ compiler to probe it"
    with tempfile.TemporaryDirectory(prefix="rag-amx-") as tmp:
        source, program = Path(tmp) / "amx.cpp", Path(tmp) / "amx"
        source.write_text(AMX_PROBE_CPP)
        flags = ["-O2", "-mavx512f", "-mamx-tile", "-mamx-int8"]
        built = subprocess.run([cxx, *flags, str(source), "-o", str(program)], capture_output=True, check=False)
        if built.returncode != 0:
            return False, f"{compiler_version(cxx) or cxx} does not compile AMX code"
        try:
            ran = subprocess.run([str(program)], capture_output=True, timeout=30, check=False)
        except subprocess.TimeoutExpired:
            return False, "the AMX probe hung"
    if ran.returncode == 0:
        return True, f"ggml's AMX tile start ran, built by {compiler_version(cxx)}"
    if ran.returncode == 3:
        return False, "the kernel refuses AMX tile data to processes"
    if ran.returncode == 4:
        return False, "AMX tiles multiplied wrongly"
    return False, f"ggml's AMX tile start, built by {compiler_version(cxx)}, {exit_reason(ran.returncode)}"


def exit_reason(returncode: int) -> str:
    """'died by SIGSEGV' for a child killed by a signal, else 'exited with N'."""
    if returncode < 0:
        import signal

        try:
            return f"died by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"died by signal {-returncode}"
    return f"exited with {returncode}"


def builds(flags: frozenset[str], amx: bool, compiler: str = "") -> list[Build]:
    """The builds this CPU can run, best first: each level keeps the options before it whose flags the CPU lists."""
    if platform.machine() not in ("x86_64", "AMD64"):
        return [Build("native", (), compiler)]
    options: list[str] = []
    found: list[Build] = []
    for level, level_options in LEVELS.items():
        if level == "amx" and not amx:
            break
        usable = [option for option, needs in level_options.items() if all(n in flags for n in needs)]
        if level != "baseline" and not usable:
            break
        options += usable
        found.append(Build(level, tuple(options), compiler))
    return found[::-1]


def plan(level: str = "") -> tuple[list[Build], str]:
    """This machine's builds, best first, and what was found about AMX. `level` (RAG_LLAMA_LEVEL) caps them, e.g.
    'avx2' for a wheel that runs on more machines; 'amx' takes AMX whatever its probe said."""
    flags, cxx = cpu_flags(), compiler()
    if level and level not in LEVELS:
        raise SystemExit(f"error: RAG_LLAMA_LEVEL={level!r}: not one of {', '.join(LEVELS)}")
    if not {"amx_tile", "amx_int8"} <= flags:
        amx, why = False, "the CPU lists no AMX"
    elif level == "amx":
        amx, why = True, "asked for by RAG_LLAMA_LEVEL=amx"
    else:
        amx, why = amx_usable(cxx)
    found = builds(flags, amx, compiler_version(cxx))
    if level:
        levels = list(LEVELS)
        found = [b for b in found if b.level == "native" or levels.index(b.level) <= levels.index(level)]
    return found, why


def installed_library() -> str:
    """The sha256 of the installed llama-cpp-python's CPU backend library ('' when there is none). Found without
    importing llama_cpp, which loads it."""
    import importlib.util

    spec = importlib.util.find_spec("llama_cpp")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        for library in sorted((Path(folder) / "lib").glob("libggml-cpu.*")):
            return hashlib.sha256(library.read_bytes()).hexdigest()
    return ""


def choose(cache: Path, candidates: list[Build]) -> Build:
    """The best build that has not failed the reader probe here."""
    for build in candidates:
        if not (cache / build.key / FAILED).exists():
            return build
    raise SystemExit(
        f"error: every llama-cpp-python build failed the reader probe on this CPU (see {cache}/*/{FAILED}); "
        "set RAG_LLM__MODEL to an OpenAI-compatible server instead"
    )


def cached_wheel(cache: Path, build: Build) -> Path | None:
    """The wheel made for exactly this build, if the cache holds one."""
    wheels = sorted((cache / build.key).glob("llama_cpp_python-*.whl"))
    return wheels[0] if wheels else None


def build_wheel(cache: Path, build: Build, source: str = REQUIREMENT) -> Path:
    """Compile llama-cpp-python with the build's CMake arguments into its cache folder (about 5 minutes)."""
    folder = cache / build.key
    folder.mkdir(parents=True, exist_ok=True)
    cmake_args = shlex.join(build.cmake_args)  # scikit-build-core splits CMAKE_ARGS as a shell would
    env = dict(os.environ, CMAKE_ARGS=cmake_args, CMAKE_BUILD_PARALLEL_LEVEL=str(os.cpu_count() or 1))
    with tempfile.TemporaryDirectory(dir=folder, prefix=".building-") as tmp:
        # pip's own wheel cache is keyed by the source alone, not by CMAKE_ARGS: it would hand back another build.
        command = [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-cache-dir",
            "--no-binary",
            "llama-cpp-python",
        ]
        command += ["-w", tmp]
        subprocess.run([*command, source], check=True, env=env)
        (wheel,) = Path(tmp).glob("llama_cpp_python-*.whl")
        final = folder / wheel.name
        os.replace(wheel, final)
    (folder / "build.json").write_text(json.dumps({"level": build.level, "cmake_args": build.cmake_args}, indent=1))
    return final


def install(cache: Path, source: str = REQUIREMENT) -> Build:
    """Pick the build for this CPU, take its wheel from the cache or make it, install it here and record which."""
    candidates, why = plan(os.environ.get("RAG_LLAMA_LEVEL", ""))
    build = choose(cache, candidates)
    wheel = cached_wheel(cache, build)
    made = wheel is None
    if wheel is None:
        print(f"building llama-cpp-python {VERSION} for {build.describe()} (about 5 minutes, once)", flush=True)
        wheel = build_wheel(cache, build, source)
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--force-reinstall", str(wheel)]
    subprocess.run(pip, check=True)
    record = {"key": build.key, "cache": str(cache), "level": build.level, "flags": build.flags, "amx": why}
    record["library"] = installed_library()
    (Path(sys.prefix) / RECORD).write_text(json.dumps(record, indent=1))
    print(f"llama-cpp-python {VERSION}: {build.describe()} (AMX: {why}; {'built' if made else 'cached'} {wheel})")
    return build


def installed_record(prefix: Path | None = None) -> dict | None:
    """What `install` recorded in this environment (None when llama-cpp-python came another way)."""
    try:
        return json.loads((Path(prefix or sys.prefix) / RECORD).read_text())
    except (OSError, ValueError):
        return None


def mark_failed(reason: str, prefix: Path | None = None, library: str | None = None) -> str | None:
    """Mark the installed build as failing the reader probe, so the next `install` steps down; its key, or None
    when the installed llama-cpp-python is not the one `install` recorded (it came another way)."""
    record = installed_record(prefix)
    if record is None or record.get("library") != (installed_library() if library is None else library):
        return None
    folder = Path(record["cache"]) / record["key"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / FAILED).write_text(reason + "\n")
    return record["key"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "rag-news" / "wheels")
    parser.add_argument("--source", default=REQUIREMENT, help="a requirement or an sdist path")
    parser.add_argument("--show", action="store_true", help="print the builds this CPU can run and exit")
    args = parser.parse_args()
    if args.show:
        candidates, why = plan(os.environ.get("RAG_LLAMA_LEVEL", ""))
        print(f"AMX: {why}")
        for build in candidates:
            failed = (args.cache / build.key / FAILED).exists()
            print(f"{build.key}: {build.describe()}{' (failed the reader probe here)' if failed else ''}")
        return
    install(args.cache, args.source)


if __name__ == "__main__":
    main()
