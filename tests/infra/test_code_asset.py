"""The step-code asset as CDK stages it: functions/ and the ASL files plus Python 3.14 bytecode,
hashed on what ships.

The asset hash names the shipped files and what compiled them, so it moves when the bytecode does
(here: with and without a precompiler) and stays put when nothing changed (a re-synth does not
redeploy). A tiny app stands in for the Stepwise stack so bundling runs in seconds.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_

from functions.registry import ROOT, STATEMACHINES_DIR
from infra import packaging
from infra.constants import FEATURE_FLAGS

needs_pyodide = pytest.mark.skipif(
    shutil.which("node") is None or packaging.pyodide_version() is None,
    reason="pyodide is not installed (`make py314` needs node and npm): no Python 3.14 compiler here",
)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "functions").mkdir(parents=True)
    (root / "functions" / "__init__.py").write_text("", encoding="utf-8")
    (root / "functions" / "step.py").write_text("def handler(event, ctx):\n    return 1\n", encoding="utf-8")
    (root / "tests").mkdir()
    (root / "tests" / "test_step.py").write_text("", encoding="utf-8")
    return root


def _staged(repo: Path, outdir: Path) -> tuple[str, Path]:
    """Synthesize one function on ``code_asset(repo)`` with bundling on: (asset hash, staged dir)."""
    cdk.AssetStaging.clear_asset_hash_cache()  # a fresh synth, as `make synth` is a fresh process
    app = cdk.App(outdir=str(outdir), context=dict(FEATURE_FLAGS))
    stack = cdk.Stack(app, "CodeAsset")
    lambda_.Function(
        stack,
        "Step",
        runtime=packaging.RUNTIME,
        handler="functions.step.handler",
        code=packaging.code_asset(repo),
    )
    template = app.synth().get_stack_artifact("CodeAsset").template
    (function,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    asset_hash = str(function["Properties"]["Code"]["S3Key"]).removesuffix(".zip")
    return asset_hash, outdir / f"asset.{asset_hash}"


def _files(directory: Path) -> list[str]:
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file())


@needs_pyodide
def test_the_staged_code_asset_carries_bytecode_and_its_hash_follows_it(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(packaging, "find_precompiler", packaging.pyodide_precompiler)

    # When the app is synthesized twice with the Python 3.14 precompiler
    first_hash, first = _staged(repo, tmp_path / "first")
    second_hash, _ = _staged(repo, tmp_path / "second")

    # Then the staged asset is functions/ with its 3.14 bytecode, and the same inputs give the same hash
    assert _files(first) == [
        "functions/__init__.py",
        "functions/__pycache__/__init__.cpython-314.pyc",
        "functions/__pycache__/step.cpython-314.pyc",
        "functions/step.py",
    ]
    assert second_hash == first_hash

    # When nothing can precompile
    monkeypatch.setattr(packaging, "find_precompiler", lambda: None)
    source_hash, source_only = _staged(repo, tmp_path / "source-only")

    # Then the asset ships source only, under another hash
    assert _files(source_only) == ["functions/__init__.py", "functions/step.py"]
    assert source_hash != first_hash


def test_the_hash_follows_the_shipped_files_and_ignores_the_rest_of_the_repository(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(packaging, "find_precompiler", lambda: None)
    before = packaging.code_asset_hash(repo)

    # A test, a stale local bytecode cache and the build tools are not shipped: same hash
    (repo / "tests" / "test_step.py").write_text("assert True\n", encoding="utf-8")
    (repo / "functions" / "__pycache__").mkdir()
    (repo / "functions" / "__pycache__" / "step.cpython-311.pyc").write_bytes(b"local")
    (repo / "tools").mkdir()
    (repo / "tools" / "compileall.mjs").write_text("// v2\n", encoding="utf-8")
    assert packaging.code_asset_hash(repo) == before

    # A step's code is: another hash
    (repo / "functions" / "step.py").write_text("def handler(event, ctx):\n    return 2\n", encoding="utf-8")
    assert packaging.code_asset_hash(repo) != before


def _cdk_copies(root: Path, destination: Path) -> list[str]:
    """What CDK's own copier (the one asset staging uses) keeps of ``root`` under the asset's patterns."""
    destination.mkdir()
    cdk.FileSystem.copy_directory(
        str(root),
        str(destination),
        cdk.CopyOptions(exclude=packaging.code_asset_ignore(), ignore_mode=cdk.IgnoreMode.GIT),
    )
    return _files(destination)


def test_cdk_and_code_asset_files_agree_on_an_include_list_anchored_at_the_root(tmp_path: Path) -> None:
    # Given a tree with the names that defeated the old exclude list: a root file's name inside
    # functions/ (functions/api/app.py vs app.py), ASL files next to other files in statemachines/,
    # and the same folder names below excluded folders
    root = tmp_path / "repo"
    for name in (
        "app.py", "cdk.json", ".gitignore", "README.md", ".venv/lib/x.py", "tests/test_x.py",
        "functions/__init__.py", "functions/api/app.py", "functions/api/page.html",
        "functions/__pycache__/app.cpython-311.pyc", "functions/api/__pycache__/app.cpython-311.pyc",
        "functions/shared/llm/fixtures/cases.json",
        "statemachines/a.asl.json", "statemachines/README.md", "statemachines/old/b.asl.json",
        "docs/functions/x.md", "local/statemachines/c.asl.json", "infra/functions/y.py",
    ):  # fmt: skip
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x\n", encoding="utf-8")

    # When CDK copies it with the asset's ignore patterns, and code_asset_files lists it
    copied = _cdk_copies(root, tmp_path / "staged")
    listed = [p.relative_to(root).as_posix() for p in packaging.code_asset_files(root)]

    # Then both keep exactly functions/ (no stale bytecode) and the top-level ASL files
    assert copied == listed
    assert listed == [
        "functions/__init__.py",
        "functions/api/app.py",
        "functions/api/page.html",
        "functions/shared/llm/fixtures/cases.json",
        "statemachines/a.asl.json",
    ]


def test_cdk_and_code_asset_files_agree_on_this_repository(tmp_path: Path) -> None:
    # Given the real repository (the root's big folders are skipped without being walked)
    # When CDK copies it and code_asset_files lists it
    copied = _cdk_copies(ROOT, tmp_path / "staged")
    listed = [p.relative_to(ROOT).as_posix() for p in packaging.code_asset_files(ROOT)]

    # Then they agree, and the API's handler and every registered ASL file ship
    assert copied == listed
    assert "functions/api/app.py" in listed
    asl_files = sorted(p.relative_to(ROOT).as_posix() for p in STATEMACHINES_DIR.glob("*.asl.json"))
    assert asl_files
    assert set(asl_files) <= set(listed)
