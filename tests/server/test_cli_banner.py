"""What ``tekcify-auth serve`` says at start about running several instances."""

from __future__ import annotations

from pathlib import Path

from tekcify_auth.cli import _banner
from tekcify_auth.server.context import ServerContext

from .conftest import make_settings

POSTGRES = "postgresql://tekcify@127.0.0.1:5432/tekcify"  # never connected to here
URL = "http://127.0.0.1:7001"


def banner(tmp_path: Path, **settings: str) -> str:
    configured = make_settings(data_dir=tmp_path / "data", **settings)
    return _banner(configured, ServerContext(configured), URL)


def test_memory_login_limits_are_called_per_process(tmp_path: Path) -> None:
    said = banner(tmp_path)
    assert "login limits: in this process's memory" in said
    assert "TEKCIFY_REDIS_URL" in said


def test_redis_login_limits_are_called_shared(tmp_path: Path) -> None:
    said = banner(tmp_path, redis_url="redis://127.0.0.1:6379/0")
    assert "login limits: shared through Redis" in said
    assert "in this process's memory" not in said


def test_a_generated_secret_on_a_shared_database_asks_for_one_secret(tmp_path: Path) -> None:
    assert "several instances: give every one the same JWT_ACCESS_SECRET" in banner(
        tmp_path, database_url=POSTGRES
    )
    assert "several instances" not in banner(tmp_path)  # SQLite: one host, one data folder
    assert "several instances" not in banner(
        tmp_path, database_url=POSTGRES, jwt_access_secret="s" * 40
    )
    assert "several instances" not in banner(
        tmp_path, database_url=POSTGRES, signing_alg="ES256"
    )


def test_the_log_level_governs_the_access_log() -> None:
    # TEKCIFY_LOG_LEVEL=WARNING must silence the per-request INFO lines, as the README says.
    from tekcify_auth.server.logs import log_config

    access = "tekcify_auth.server.access"
    assert log_config("WARNING", "text")["loggers"][access]["level"] == "WARNING"
    assert log_config("INFO", "json")["loggers"][access]["level"] == "INFO"
    # uvicorn keeps saying where it listens whatever the level.
    assert log_config("ERROR", "text")["loggers"]["uvicorn"]["level"] == "INFO"
