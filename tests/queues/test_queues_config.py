"""``[queues]`` defaults and ``[queues.NAME]`` tables: inheritance, environment, mistakes."""

from __future__ import annotations

from pathlib import Path

import pytest

from callport.config import ConfigError, load_settings


def load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> object:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return load_settings(path, env=env or {})


def test_named_queues_start_from_the_defaults(tmp_path: Path) -> None:
    music = tmp_path / "calm.ogg"
    music.write_bytes(b"OggS")
    settings = load(tmp_path, """
[queues]
wrap_up_s = 5
announce_every_s = 30
[queues.support]
strategy = "ring-all"
hold_music = "MUSIC"
[queues.sales]
keys = ["9=callback"]
on_max_wait = "callback"
""".replace("MUSIC", str(music)), env={"CALLPORT_QUEUES_RING_TIMEOUT_S": "20"})
    queues = settings.queues  # type: ignore[attr-defined]
    support, sales = queues.get("support"), queues.get("sales")
    assert support.strategy == "ring-all" and support.wrap_up_s == 5
    assert support.ring_timeout_s == 20 and support.hold_music == str(music)
    assert sales.strategy == "longest-idle" and sales.announce_every_s == 30
    assert sales.key_actions() == {"9": "callback"} and sales.on_max_wait == "callback"
    assert queues.get("billing") is None


def test_no_queues_by_default(tmp_path: Path) -> None:
    settings = load(tmp_path, "")
    assert settings.queues.named == ()  # type: ignore[attr-defined]


@pytest.mark.parametrize(("text", "expected"), [
    ('[queues.support]\nring_timeout_s = 0\n', "queues.support.ring_timeout_s=0: out of range"),
    ('[queues.support]\nstrategy = "random"\n', "queues.support.strategy='random': use one of"),
    ('[queues.support]\nkeys = ["1=dance"]\n', "queues.support.keys: '1=dance'"),
    ('[queues.support]\non_max_wait = "wait"\n', "queues.support.on_max_wait='wait'"),
    ('[queues.support]\ncolour = "blue"\n', "queues.support.colour: unknown setting"),
    ('[queues]\nmax_wait_s = -1\n', "queues.max_wait_s=-1: out of range"),
    ('[queues."bad name"]\n', "queues.bad name: queue names use letters"),
    ('[queues.support]\nhold_music = "/nonexistent/x.wav"\n', "x.wav': no such file"),
])
def test_mistakes_are_named(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        load(tmp_path, text)
    assert expected in str(err.value)
