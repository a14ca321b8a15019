"""Shared fixtures: a real Azurite emulator for everything that talks to Azure.

    def test_upload(azurite, container):
        url = azurite.container_sas_url(container, permission="cw")              # se/sp SAS
        url = azurite.container_sas_url(container, expiry=timedelta(hours=-1))   # already expired
        azurite.create_container("team", policies={"team-rw": ("racwdl", timedelta(days=14))})
        url = azurite.container_sas_url("team", policy_id="team-rw")             # si= only, as sent

If Node.js or Azurite is missing, every test that uses these fixtures fails with one line saying how
to install them; they are never skipped, so CI cannot go green without having run them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from planner.emulator import Azurite, EmulatorError


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "azurite" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.azurite)


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    """One in-memory Azurite on a free loopback port for the whole test session."""
    problem: str | None = None
    try:
        emu = Azurite.start()
    except EmulatorError as e:
        problem = str(e)
    if problem is not None:  # outside the except block, so pytest shows one line and no chained traceback
        pytest.fail(f"Azure tests need the Azurite emulator: {problem}", pytrace=False)
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def container(azurite: Azurite) -> str:
    """A fresh, empty container in the session's Azurite; returns its name."""
    return azurite.create_container(f"t-{uuid.uuid4().hex[:16]}")
