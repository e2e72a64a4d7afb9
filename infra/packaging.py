"""Lambda layers with the pinned third-party dependencies, built locally (no Docker).

Two layers, so a step that does not call the LLM never carries ``anthropic``:
- ``base``: Powertools (parser, tracer), pydantic, pydantic-settings — every step;
- ``llm``: ``anthropic`` and what it needs beyond ``base`` — only steps with ``Resource.LLM``.

Both are installed with ``pip install --platform manylinux2014_aarch64 --only-binary=:all:`` for
the Lambda runtime's Python, pinned by ``requirements.txt`` (used as constraints). Packages the
Lambda runtime already ships (boto3, botocore and their dependencies) are pruned: they are most of
the size and would shadow the runtime's patched copies. Bundling runs at ``make synth`` /
``cdk deploy``; tests skip it (context ``aws:cdk:bundling-stacks = []``).

Bytecode: ``/opt`` is read-only on Lambda, so a layer without ``.pyc`` files is compiled from source
on every cold start. The layer is precompiled with an interpreter of the *runtime's* version (a
``.pyc`` carries its Python version's magic number; 3.11 bytecode is ignored by 3.14), found as
``$STEPWISE_LAMBDA_PYTHON`` or ``python3.14`` on ``PATH``. Without one the layer ships source only
and says so: ``make bench`` reports it as a miss rather than shipping bytecode Lambda cannot use.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Final

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling, RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from functions.registry import ROOT

RUNTIME: Final = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE: Final = lambda_.Architecture.ARM_64
PLATFORM: Final = "manylinux2014_aarch64"
REQUIREMENTS: Final = ROOT / "requirements.txt"

BASE_PACKAGES: Final = ("aws-lambda-powertools[parser,tracer]", "pydantic", "pydantic-settings")
LLM_PACKAGES: Final = ("anthropic",)
#: Shipped by the Lambda Python runtime; pruned from the layers.
RUNTIME_PROVIDED: Final = frozenset(
    {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "python_dateutil", "six", "urllib3", "bin"}
)
#: An interpreter of the runtime's Python version, for precompiling the layers' bytecode.
RUNTIME_PYTHON_ENV: Final = "STEPWISE_LAMBDA_PYTHON"
#: Where Lambda mounts a layer's ``python/`` folder (recorded in the bytecode for tracebacks).
LAYER_MOUNT: Final = "/opt/python"

log = logging.getLogger(__name__)


def _pinned_versions() -> dict[str, str]:
    """Package name → the exact version pinned in requirements.txt."""
    versions = {}
    for raw in REQUIREMENTS.read_text(encoding="utf-8").splitlines():
        requirement = raw.split("#", 1)[0].strip()
        if "==" in requirement:
            name, version = requirement.split("==", 1)
            versions[name.split("[", 1)[0].strip().lower()] = version.strip()
    return versions


def requirement_lines(packages: tuple[str, ...]) -> list[str]:
    """``pkg[extra]`` → ``pkg[extra]==<pinned version>``; an unpinned package is an error."""
    versions = _pinned_versions()
    lines = []
    for package in packages:
        name = package.split("[", 1)[0].lower()
        if name not in versions:
            raise KeyError(f"{package} is not pinned in {REQUIREMENTS.name}")
        lines.append(f"{package}=={versions[name]}")
    return lines


def pip_install(target: Path, packages: tuple[str, ...]) -> None:
    python_version = runtime_python_version()
    with tempfile.TemporaryDirectory() as scratch:
        # pip constraints take plain "name==version" lines (no extras), so they are derived.
        constraints = Path(scratch) / "constraints.txt"
        constraints.write_text(
            "".join(f"{n}=={v}\n" for n, v in _pinned_versions().items()), encoding="utf-8"
        )
        subprocess.run(  # noqa: S603 - fixed arguments, our own pins
            [
                sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                "--no-compile",
                "--platform", PLATFORM, "--only-binary=:all:", "--implementation", "cp",
                "--python-version", python_version, "--constraint", str(constraints),
                "--target", str(target), *requirement_lines(packages),
            ],
            check=True,
        )  # fmt: skip


def _top_level(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()} if directory.is_dir() else set()


def _prune(directory: Path, names: set[str]) -> None:
    for entry in list(directory.iterdir()):
        stem = (
            entry.name.split("-", 1)[0]
            if entry.name.endswith(".dist-info")
            else entry.name.removesuffix(".py")
        )
        if entry.name in names or stem.lower() in RUNTIME_PROVIDED or entry.name == "__pycache__":
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


def runtime_python_version() -> str:
    """``"3.14"`` for ``python3.14``."""
    return RUNTIME.name.removeprefix("python")


def find_runtime_python() -> str | None:
    """An interpreter whose version is the Lambda runtime's, or ``None`` when this machine has none."""
    wanted = runtime_python_version()
    for candidate in (os.environ.get(RUNTIME_PYTHON_ENV), shutil.which(f"python{wanted}")):
        if not candidate:
            continue
        probe = subprocess.run(  # noqa: S603 - an interpreter path we were given or found on PATH
            [candidate, "-c", "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == wanted:
            return candidate
    return None


def precompile(target: Path, mount: str = LAYER_MOUNT) -> bool:
    """Write ``__pycache__/*.cpython-<runtime>.pyc`` next to every module; ``False`` if impossible here.

    ``unchecked-hash``: the layer is immutable, so the interpreter never needs to stat the source to
    validate the cache (a timestamp pyc would also depend on the mtimes the zip preserves).
    """
    python = find_runtime_python()
    if python is None:
        log.warning(
            "no Python %s interpreter (set %s): %s ships without bytecode",
            runtime_python_version(),
            RUNTIME_PYTHON_ENV,
            target,
        )
        return False
    subprocess.run(  # noqa: S603 - fixed arguments
        [
            python, "-m", "compileall", "-q", "-j0", "--invalidation-mode", "unchecked-hash",
            "-s", str(target), "-p", mount, str(target),
        ],
        check=True,
    )  # fmt: skip
    return True


def build_layer(target: Path, packages: tuple[str, ...], exclude_packages: tuple[str, ...] = ()) -> bool:
    """Install ``packages`` into ``target`` minus what ``exclude_packages`` (another layer) brings,
    then precompile it. Returns whether bytecode was precompiled."""
    pip_install(target, packages)
    shared: set[str] = set()
    if exclude_packages:
        with tempfile.TemporaryDirectory() as scratch:
            pip_install(Path(scratch), exclude_packages)
            shared = _top_level(Path(scratch))
    _prune(target, shared)
    return precompile(target)


def layer_asset_hash(construct_id: str, packages: tuple[str, ...], exclude_packages: tuple[str, ...]) -> str:
    """What is inside a layer: changes exactly when a pin, the platform, the runtime or the bytecode
    (whether it could be precompiled) does."""
    compiled = "pyc" if find_runtime_python() else "source-only"
    identity = [
        construct_id, PLATFORM, RUNTIME.name, compiled, *requirement_lines(packages + exclude_packages)
    ]  # fmt: skip
    return hashlib.sha256("\n".join(identity).encode()).hexdigest()


@jsii.implements(ILocalBundling)
class _PipBundling:
    """CDK local bundling: ``try_bundle`` fills ``output_dir/python`` with pip (never Docker)."""

    def __init__(self, packages: tuple[str, ...], exclude_packages: tuple[str, ...] = ()) -> None:
        self._packages = packages
        self._exclude_packages = exclude_packages

    def try_bundle(self, output_dir: str, *, image: DockerImage, **_: object) -> bool:
        build_layer(Path(output_dir) / "python", self._packages, self._exclude_packages)
        return True


class DependencyLayers(Construct):
    """The ``base`` and ``llm`` layers, shared by every workflow of the stack."""

    def __init__(self, scope: Construct, construct_id: str, *, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, construct_id)
        self.base = self._layer("Base", "Powertools, pydantic", BASE_PACKAGES, (), removal_policy)
        self.llm = self._layer("Llm", "anthropic SDK", LLM_PACKAGES, BASE_PACKAGES, removal_policy)

    def _layer(
        self,
        construct_id: str,
        description: str,
        packages: tuple[str, ...],
        exclude_packages: tuple[str, ...],
        removal_policy: RemovalPolicy,
    ) -> lambda_.LayerVersion:
        # CDK's asset cache cannot tell two local bundlers apart: the hash names what is inside.
        asset_hash = layer_asset_hash(construct_id, packages, exclude_packages)
        return lambda_.LayerVersion(
            self,
            construct_id,
            description=f"stepwise {description} (pinned by requirements.txt)",
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            removal_policy=removal_policy,
            code=lambda_.Code.from_asset(
                str(REQUIREMENTS.parent),
                exclude=["*", f"!{REQUIREMENTS.name}"],
                asset_hash_type=AssetHashType.CUSTOM,
                asset_hash=asset_hash,
                bundling=BundlingOptions(
                    image=RUNTIME.bundling_image,
                    local=_PipBundling(packages, exclude_packages=exclude_packages),
                ),
            ),
        )
