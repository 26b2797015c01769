"""llama.cpp builds side by side: prompt evaluation and generation tokens/s of the reader (Gemma-3-270M Q4_K_M,
the reader's threads) with each wheel, in a child process each (a build that cannot run here is reported, not
fatal), the builds alternated over rounds. Each wheel is unpacked into a folder of its own and put first on the
child's PYTHONPATH, so nothing is installed.

    python -m bench.llama_builds [--rounds 3] [--build LEVEL ...] [LABEL=WHEEL ...]

With no wheel named: the build `make setup` installed here, against every other build in the wheel cache.
`--build native-no-amx` (or a level: avx2, baseline, amx) first compiles that build into bench/data/llama-wheels
(about 3-5 minutes each): 'native-no-amx' is -march=native without AMX, the closest to ggml's default that runs
on a CPU whose AMX kernels crash.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.paths import ROOT
from rag import llama_build
from rag.config import Settings
from rag.generators.probe import probe
from rag.models import llm_location

BENCH_WHEELS = ROOT / "bench/data/llama-wheels"
PROMPT_TOKENS, GENERATED = 512, 64
NO_AMX = ("-mno-amx-tile", "-mno-amx-int8", "-mno-amx-bf16")


@dataclass(frozen=True)
class NativeWithoutAmx(llama_build.Build):
    """-march=native, less AMX (ggml's own -march=native cannot be told to leave AMX out: its flags come last)."""

    @property
    def cmake_args(self) -> tuple[str, ...]:
        native = " ".join(("-march=native", *NO_AMX))
        return (*super().cmake_args, f"-DCMAKE_C_FLAGS={native}", f"-DCMAKE_CXX_FLAGS={native}")


def compile_build(name: str) -> tuple[str, Path]:
    """Compile one build into bench/data/llama-wheels (kept: a second run reuses it): its label and wheel."""
    candidates, _ = llama_build.plan("amx" if name == "amx" else "")
    by_level = {b.level: b for b in candidates}
    if name == "native-no-amx":
        chosen = by_level.get("avx512") or candidates[0]
        build: llama_build.Build = NativeWithoutAmx("native-no-amx", chosen.flags, chosen.compiler)
    else:
        build = by_level[name]
    wheel = llama_build.cached_wheel(BENCH_WHEELS, build) or llama_build.build_wheel(BENCH_WHEELS, build)
    return name, wheel


def default_wheels() -> dict[str, Path]:
    """The installed build, every other build of the cache it came from, and those compiled by --build."""
    record = llama_build.installed_record()
    if record is None:
        raise SystemExit("no build recorded in this environment: run `make setup`, or name the wheels")
    cache = Path(record["cache"])
    wheels = {f"{record['level']} (installed)": next((cache / record["key"]).glob("*.whl"))}
    folders = [f for f in sorted(cache.iterdir()) if f.name != record["key"]]
    folders += sorted(BENCH_WHEELS.iterdir()) if BENCH_WHEELS.exists() else []
    for folder in folders:
        if folder.is_dir() and (found := sorted(folder.glob("*.whl"))):
            described = folder / "build.json"
            level = json.loads(described.read_text())["level"] if described.exists() else folder.name
            failed = " (failed the reader probe here)" if (folder / llama_build.FAILED).exists() else ""
            wheels[f"{level}{failed}"] = found[0]
    return wheels


def unpacked(wheel: Path, into: Path) -> Path:
    folder = into / wheel.parent.name
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(folder)
    return folder


def spread(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def run(wheels: dict[str, Path] | None = None, rounds: int = 3) -> dict[str, Any]:
    """Each wheel's tokens/s over the rounds (min / median / max), or how it failed."""
    wheels = wheels or default_wheels()
    settings = Settings()
    model = llm_location(settings.llm.model, settings.models_dir)
    seen: dict[str, dict[str, Any]] = {
        label: {"wheel": str(path), "prompt": [], "generate": []} for label, path in wheels.items()
    }
    with tempfile.TemporaryDirectory(prefix="llama-builds-") as tmp:
        paths = {label: unpacked(path, Path(tmp)) for label, path in wheels.items()}
        for round_ in range(rounds):
            for label, folder in paths.items():
                if seen[label].get("error"):
                    continue
                env = dict(os.environ, PYTHONPATH=os.pathsep.join((str(folder), str(ROOT))))
                result = probe(model, PROMPT_TOKENS, GENERATED, settings.llm.threads, env=env)
                if not result.ok:
                    seen[label]["error"] = result.error
                    print(f"{label}: {result.error}", flush=True)
                    continue
                seen[label]["system"] = result.system
                seen[label]["prompt"].append(result.prompt_tokens_per_s)
                seen[label]["generate"].append(result.tokens_per_s)
                print(f"round {round_ + 1} {label}: {result.line()}", flush=True)
    report: dict[str, Any] = {"model": model.name, "prompt_tokens": PROMPT_TOKENS, "generated_tokens": GENERATED}
    report["threads"] = settings.llm.threads or max((os.cpu_count() or 2) // 2, 1)
    report["builds"] = {
        label: {k: v for k, v in seen[label].items() if k not in ("prompt", "generate")}
        | (
            {"prompt_tokens_per_s": spread(seen[label]["prompt"]), "tokens_per_s": spread(seen[label]["generate"])}
            if seen[label]["prompt"]
            else {}
        )
        for label in seen
    }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("wheels", nargs="*", help="LABEL=WHEEL")
    parser.add_argument("--build", action="append", default=[], help="compile this build first (see above)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, help="also write the figures here (JSON)")
    args = parser.parse_args()
    named = {label: Path(path) for label, path in (item.split("=", 1) for item in args.wheels)}
    chosen = named or default_wheels()  # the wheels named, else the installed build and the cache's others
    for name in args.build:
        label, wheel = compile_build(name)
        chosen[label] = wheel
    report = run(chosen, args.rounds)
    print(json.dumps(report, indent=1))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
