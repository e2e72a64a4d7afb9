"""Deployment artifact sizes (unzipped) and whether their bytecode is precompiled for the runtime.

The layers are built exactly as ``make synth`` builds them (``infra.packaging.build_layer``: pip
for the Lambda platform, pruned, precompiled when an interpreter of the runtime's version exists),
cached under ``cdk.out/bench-layers/<asset hash>``; the code asset is the repository minus
``infra.constants.FUNCTION_ASSET_EXCLUDE``, matched on base names like CDK's glob exclusion.
"""

from __future__ import annotations

import fnmatch
import shutil
from dataclasses import dataclass
from pathlib import Path

from bench.report import Measurement
from functions.registry import ROOT
from infra import packaging
from infra.constants import FUNCTION_ASSET_EXCLUDE

MAX_NON_LLM_MB = 30.0
MIB = 1024 * 1024
CACHE_DIR = ROOT / "cdk.out" / "bench-layers"


def _excluded(relative: Path) -> bool:
    patterns = [pattern.rsplit("/", 1)[-1] for pattern in FUNCTION_ASSET_EXCLUDE]
    return any(fnmatch.fnmatch(part, pattern) for part in relative.parts for pattern in patterns)


def code_asset_files(root: Path = ROOT) -> list[Path]:
    """The files the step functions' code asset ships."""
    files = []
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if _excluded(relative) or path.is_symlink() or not path.is_file():
            continue
        files.append(path)
    return files


def tree_bytes(files: list[Path]) -> int:
    return sum(path.stat().st_size for path in files)


def _all_files(directory: Path) -> list[Path]:
    return [path for path in directory.rglob("*") if path.is_file()]


@dataclass(frozen=True)
class Layer:
    name: str
    directory: Path
    size: int
    modules: int  # .py files
    compiled: int  # of those, with a .pyc for the runtime's Python


def _compiled_count(directory: Path) -> tuple[int, int]:
    tag = f"cpython-{packaging.runtime_python_version().replace('.', '')}"
    sources = list(directory.rglob("*.py"))
    compiled = sum(1 for src in sources if (src.parent / "__pycache__" / f"{src.stem}.{tag}.pyc").exists())
    return len(sources), compiled


def build_layer(name: str, packages: tuple[str, ...], exclude: tuple[str, ...]) -> Layer:
    """The layer as deployed (cached by its asset hash; pip reaches the package registry once)."""
    directory = CACHE_DIR / packaging.layer_asset_hash(name, packages, exclude) / "python"
    if not directory.is_dir():
        staging = directory.with_name("python.partial")
        shutil.rmtree(staging, ignore_errors=True)
        packaging.build_layer(staging, packages, exclude)
        staging.rename(directory)
    modules, compiled = _compiled_count(directory)
    return Layer(name, directory, tree_bytes(_all_files(directory)), modules, compiled)


def measure() -> list[Measurement]:
    base = build_layer("Base", packaging.BASE_PACKAGES, ())
    llm = build_layer("Llm", packaging.LLM_PACKAGES, packaging.BASE_PACKAGES)
    code = tree_bytes(code_asset_files())
    section = "artifacts"
    interpreter = packaging.find_runtime_python()
    why_not = (
        ""
        if interpreter
        else f"no Python {packaging.runtime_python_version()} here (set {packaging.RUNTIME_PYTHON_ENV});"
        " bytecode of another version would be ignored"
    )
    rows = [
        Measurement(
            section, "code asset (functions/, unzipped)", code / MIB, "MiB", note="shared by every step"
        ),
        Measurement(section, "base layer (unzipped)", base.size / MIB, "MiB", note="Powertools, pydantic"),
        Measurement(
            section, "llm layer (unzipped)", llm.size / MIB, "MiB", note="anthropic and what it adds"
        ),
        Measurement(
            section,
            "non-LLM step: code + base layer",
            (code + base.size) / MIB,
            "MiB",
            target=MAX_NON_LLM_MB,
            note="+ boto3 from the runtime",
        ),
        Measurement(
            section,
            "LLM step: code + base + llm layers",
            (code + base.size + llm.size) / MIB,
            "MiB",
            note="Lambda's limit is 250 MB unzipped",
        ),
    ]
    version = packaging.runtime_python_version()
    for layer in (base, llm):
        share = layer.compiled / layer.modules * 100 if layer.modules else 0.0
        rows.append(
            Measurement(
                section,
                f"{layer.name.lower()} layer modules precompiled for Python {version}",
                share,
                "%",
                target=100.0,
                comparison=">=",
                note=f"{layer.compiled} of {layer.modules} .py files; {why_not}".rstrip("; "),
            )
        )
    return rows
