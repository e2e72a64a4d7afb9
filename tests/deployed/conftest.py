"""One as-deployed account per test module: the synthesized assembly, each Lambda from its own
code asset with its own environment and role (``LocalRuntime(as_deployed=True)``).

Deploying is done once per module (the assembly is synthesized once per change of the code, into
``.stepwise/assemblies``); each test starts from a fresh business state (``reset_data``) on warm
function environments, as a deployed stack serves one run after another.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.runtime import LocalRuntime


@pytest.fixture(scope="module")
def deployed_account() -> Iterator[LocalRuntime]:
    with LocalRuntime(as_deployed=True) as runtime:
        yield runtime


@pytest.fixture
def deployed(deployed_account: LocalRuntime) -> LocalRuntime:
    deployed_account.reset_data()
    return deployed_account
