"""store.kind postgresql: the configuration's rules and the password's handling, no server."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from routepilot.config import Config, ConfigError, dump_yaml, load_text
from routepilot.store import StoreConfig, StoreError
from routepilot.store.base import Store
from routepilot.store.pg_connect import read_password
from routepilot.store.postgresql import PostgresStore


def store_yaml(body: str) -> Config:
    return load_text("store:\n" + body, Config, "rp.yaml")


def test_postgresql_needs_a_dsn_without_a_password() -> None:
    with pytest.raises(ConfigError, match="needs a dsn"):
        store_yaml("  kind: postgresql\n")
    for dsn in (
        "postgresql://rp:s3cret@db.example/rp",
        "postgresql://rp@db.example/rp?password=s3cret",
        "host=db.example user=rp password=s3cret",
    ):
        with pytest.raises(ConfigError, match="password_file or password_env") as info:
            store_yaml(f"  kind: postgresql\n  dsn: '{dsn}'\n")
        assert "s3cret" not in str(info.value)
    with pytest.raises(ConfigError, match="not both"):
        store_yaml("  kind: postgresql\n  dsn: host=db\n  password_file: /f\n  password_env: V\n")
    with pytest.raises(ConfigError, match="kind"):
        store_yaml("  kind: mysql\n")
    cfg = store_yaml("  kind: postgresql\n  dsn: postgresql://rp@db.example/rp\n")
    assert cfg.store.kind == "postgresql" and cfg.store.pool_size == 4


def test_the_password_is_read_from_a_file_or_variable_and_never_dumped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pw = tmp_path / "pw"
    pw.write_text("s3cret\n")
    cfg = StoreConfig(kind="postgresql", dsn="host=db user=rp", password_file=str(pw))
    secret = read_password(cfg)
    assert secret is not None and secret.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(secret) and "s3cret" not in str(secret)
    assert "s3cret" not in dump_yaml(Config(store=cfg))
    monkeypatch.setenv("RP_PW", "from-env")
    env = StoreConfig(kind="postgresql", dsn="host=db", password_env="RP_PW")
    secret = read_password(env)
    assert secret is not None and secret.get_secret_value() == "from-env"
    assert read_password(StoreConfig(kind="postgresql", dsn="host=db")) is None
    pw.write_text("")
    with pytest.raises(StoreError, match="password file is empty"):
        read_password(cfg)


def test_postgres_store_implements_the_protocol() -> None:
    wanted = {n for n, _ in inspect.getmembers(Store, inspect.isfunction) if not n.startswith("_")}
    for name in wanted:
        theirs = inspect.signature(getattr(PostgresStore, name)).parameters
        ours = inspect.signature(getattr(Store, name)).parameters
        assert list(theirs) == list(ours), name
