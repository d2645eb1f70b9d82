"""The store contract (tests/unit/store/test_contract.py) on a real PostgreSQL server.

Every ``test_*`` of the contract module is collected here again with this
module's ``store`` fixture, so a contract test added there runs here too.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.unit.store import test_contract as _contract

from routepilot.store import StoreConfig
from routepilot.store.postgresql import PostgresStore

globals().update({k: v for k, v in vars(_contract).items() if k.startswith("test_")})


@pytest.fixture
def store(pg_config: StoreConfig) -> Iterator[PostgresStore]:
    s = PostgresStore.open(pg_config)
    yield s
    s.close()
