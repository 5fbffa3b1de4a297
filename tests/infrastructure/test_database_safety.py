"""Settings that let a committed event be lost are refused at start, checked in the service's
own sessions: PGOPTIONS in its environment cannot sneak them in."""
from __future__ import annotations

import pytest

from infrastructure.database import UnsafeDatabase
from infrastructure.settings import Settings


@pytest.mark.parametrize("option", ["synchronous_commit=off", "synchronous_commit=local",
                                    "synchronous_commit=remote_write"])
def test_a_system_is_not_built_on_sessions_that_do_not_wait_for_the_wal(database_url, monkeypatch, option) -> None:
    from infrastructure.bootstrap import build_system

    monkeypatch.setenv("PGOPTIONS", f"-c {option}")
    with pytest.raises(UnsafeDatabase, match=option.replace("=", "=")):
        build_system(Settings(), database_url=database_url, read_models=False)


def test_the_safe_settings_are_accepted(database_url, monkeypatch) -> None:
    from infrastructure.bootstrap import build_system

    monkeypatch.setenv("PGOPTIONS", "-c synchronous_commit=remote_apply")
    system = build_system(Settings(), database_url=database_url, read_models=False)
    system.read_pool.close()
    system.app.close()


def test_oms_serve_says_why_it_refuses_to_start(database_url, monkeypatch, capsys) -> None:
    from infrastructure import cli
    from infrastructure.settings import get_settings

    monkeypatch.setenv("PGOPTIONS", "-c synchronous_commit=off")
    monkeypatch.setenv("OMS_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        assert cli.main(["serve"]) == 2
    finally:
        get_settings.cache_clear()
    err = capsys.readouterr().err
    assert "refusing to start" in err and "synchronous_commit=off" in err


def test_every_setting_is_checked() -> None:
    from infrastructure.database import DURABILITY, refuse_unsafe_settings

    class Session:
        def __init__(self, values: dict[str, str]) -> None:
            self.values = values

        def execute(self, statement: str):  # noqa: ANN201 - a cursor's fetchone, enough here
            value = self.values[statement.removeprefix("SHOW ")]
            return type("Row", (), {"fetchone": lambda self: (value,)})()

    safe = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}
    refuse_unsafe_settings(Session(safe), "test")
    for name, bad in (("fsync", "off"), ("full_page_writes", "off"), ("synchronous_commit", "local")):
        with pytest.raises(UnsafeDatabase, match=f"{name}={bad}"):
            refuse_unsafe_settings(Session({**safe, name: bad}), "test")
    assert set(DURABILITY) == set(safe)
