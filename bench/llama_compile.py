"""How long the llama-cpp-python compile takes with and without what the Python package never loads: the
multimodal library (mtmd, LLAVA_BUILD), with this CPU's flags otherwise the same, one build after the other, each
from the sdist in a clean build folder (pip's cache bypassed). Writes bench/results/llama_compile.json.

    python -m bench.llama_compile [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.paths import ROOT
from rag import llama_build

OUT = ROOT / "bench/results/llama_compile.json"


@dataclass(frozen=True)
class WithMultimodal(llama_build.Build):
    """The same build, with the mtmd library that llama-cpp-python builds by default."""

    @property
    def cmake_args(self) -> tuple[str, ...]:
        return tuple(a for a in super().cmake_args if a != "-DLLAVA_BUILD=OFF") + ("-DLLAVA_BUILD=ON",)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    ours = llama_build.plan()[0][0]
    builds = {
        "without mtmd (ours)": ours,
        "with mtmd (the default)": WithMultimodal(ours.level, ours.flags, ours.compiler),
    }
    seconds: dict[str, list[float]] = {name: [] for name in builds}
    sizes: dict[str, int] = {}
    for _ in range(args.rounds):
        for name, build in builds.items():
            with tempfile.TemporaryDirectory(prefix="llama-compile-") as tmp:
                started = time.perf_counter()
                wheel = llama_build.build_wheel(Path(tmp), build)
                seconds[name].append(time.perf_counter() - started)
                sizes[name] = wheel.stat().st_size
            print(f"{name}: {seconds[name][-1]:.0f} s", flush=True)
    report = {
        "level": ours.level,
        "compiler": ours.compiler,
        "seconds": seconds,
        "wheel_bytes": sizes,
        "saved_s": min(seconds["with mtmd (the default)"]) - min(seconds["without mtmd (ours)"]),
    }
    OUT.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
