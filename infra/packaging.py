"""Lambda layers with the pinned third-party dependencies, built locally (no Docker).

Two layers, so a step that does not call the LLM never carries ``anthropic``:
- ``base``: Powertools (parser, tracer), pydantic, pydantic-settings — every step;
- ``llm``: ``anthropic`` and what it needs beyond ``base`` — only steps with ``Resource.LLM``.

Both are installed with ``pip install --platform manylinux2014_aarch64 --only-binary=:all:`` for
the Lambda runtime's Python, pinned by ``requirements.txt`` (used as constraints). Packages the
Lambda runtime already ships (boto3, botocore and their dependencies) are pruned: they are most of
the size and would shadow the runtime's patched copies. Bundling runs at ``make synth`` /
``cdk deploy``; tests skip it (context ``aws:cdk:bundling-stacks = []``).
"""

from __future__ import annotations

import hashlib
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
    python_version = RUNTIME.name.removeprefix("python")
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


@jsii.implements(ILocalBundling)
class _PipBundling:
    """CDK local bundling: ``try_bundle`` fills ``output_dir/python`` with pip (never Docker)."""

    def __init__(self, packages: tuple[str, ...], exclude_packages: tuple[str, ...] = ()) -> None:
        self._packages = packages
        self._exclude_packages = exclude_packages

    def try_bundle(self, output_dir: str, *, image: DockerImage, **_: object) -> bool:
        target = Path(output_dir) / "python"
        pip_install(target, self._packages)
        shared: set[str] = set()
        if self._exclude_packages:
            with tempfile.TemporaryDirectory() as scratch:
                pip_install(Path(scratch), self._exclude_packages)
                shared = _top_level(Path(scratch))
        _prune(target, shared)
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
        # CDK's asset cache cannot tell two local bundlers apart: the hash names what is inside
        # (and changes exactly when a pin, the platform or the runtime does).
        identity = [construct_id, PLATFORM, RUNTIME.name, *requirement_lines(packages + exclude_packages)]
        asset_hash = hashlib.sha256("\n".join(identity).encode()).hexdigest()
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
