"""make bench counts a module as precompiled only if Lambda's Python would load its .pyc.

The census reads each ``.pyc`` header: a file under the right name but from another interpreter
(its magic number) is bytecode the runtime ignores, exactly like no file at all.
"""

from __future__ import annotations

import py_compile
import sys
from pathlib import Path

from bench.artifacts import bytecode_census, runtime_magic
from infra import packaging

TAG = "cpython-" + packaging.runtime_python_version().replace(".", "")


def _module(root: Path, name: str) -> Path:
    source = root / "pkg" / f"{name}.py"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text(f"NAME = {name!r}\n", encoding="utf-8")
    return source


def _pyc(source: Path, tag: str, header: bytes) -> None:
    cache = source.parent / "__pycache__"
    cache.mkdir(exist_ok=True)
    (cache / f"{source.stem}.{tag}.pyc").write_bytes(header + b"\x00" * 8 + b"code")


def test_only_pycs_with_the_runtimes_magic_under_the_runtimes_tag_count(tmp_path: Path) -> None:
    # Given four modules: one with runtime bytecode (unchecked-hash), one whose runtime-named .pyc
    # was written by this build machine's Python, one with only this Python's own cache, one bare
    unchecked = packaging.UNCHECKED_HASH_FLAGS.to_bytes(4, "little")
    _pyc(_module(tmp_path, "good"), TAG, runtime_magic() + unchecked)
    wrong_magic = _module(tmp_path, "wrong_magic")
    own = py_compile.compile(str(wrong_magic), doraise=True)
    assert own is not None
    Path(own).rename(Path(own).with_name(f"wrong_magic.{TAG}.pyc"))
    py_compile.compile(str(_module(tmp_path, "other_tag")), doraise=True)
    _module(tmp_path, "bare")

    # When the bench takes the census
    census = bytecode_census(tmp_path)

    # Then one of four is precompiled, and the three others are named
    assert sys.implementation.cache_tag != TAG
    assert (census.modules, census.compiled, census.unchecked) == (4, 1, 1)
    assert census.share == 25.0
    assert census.missing == ("pkg/bare.py", "pkg/other_tag.py", "pkg/wrong_magic.py")


def test_the_runtime_magic_is_cpython_314s() -> None:
    # 3627: Include/internal/pycore_magic_number.h, "Python 3.14rc3 3627", the last 3.14 number
    assert runtime_magic() == b"+\x0e\r\n"
