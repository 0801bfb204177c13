"""``server.node_id`` (``--node-id``, ``CALLPORT_NODE_ID``): validated, defaulted from the host
name and port, shown in ``/healthz`` (signed in) and ``/metrics``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "server"))

from server_support import add_user, api_token, client_of, runtime_at

from callport.cli import _parser, _settings
from callport.config import ConfigError, load_settings
from callport.config_server import default_node_id, valid_node_id


def test_default_node_id_is_host_and_port_and_valid() -> None:
    assert default_node_id(8080, "box1.example.com") == "box1-8080"
    assert default_node_id(5060, "weird host_name!") == "weird-host_name-5060"
    assert default_node_id(80, "...") == "node-80"
    assert valid_node_id(default_node_id(8080, "x" * 300))
    assert load_settings(None, env={}).server.node == default_node_id(8080)


@pytest.mark.parametrize("bad", ["", "-lead", "a b", "a:b", "a/b", "x" * 65, "näme"])
def test_bad_node_ids_are_refused(bad: str) -> None:
    assert not valid_node_id(bad)
    if bad:
        with pytest.raises(ConfigError, match=r"server\.node_id"):
            load_settings(None, env={"CALLPORT_NODE_ID": bad})


def test_env_and_flag_set_it_and_the_flag_is_checked(tmp_path: Path) -> None:
    assert load_settings(None, env={"CALLPORT_NODE_ID": "n1"}).server.node == "n1"
    args = _parser().parse_args(["serve", "--db", str(tmp_path / "a.db"), "--node-id", "b-2"])
    assert _settings(args).server.node == "b-2"
    args = _parser().parse_args(["serve", "--db", str(tmp_path / "a.db"), "--node-id", "a b"])
    with pytest.raises(ConfigError, match="--node-id"):
        _settings(args)


def test_healthz_and_metrics_name_the_node(tmp_path: Path) -> None:
    runtime = runtime_at(tmp_path, {"CALLPORT_NODE_ID": "node-a"})
    assert runtime.node_id == "node-a"
    with client_of(runtime) as client:
        anonymous = client.get("/healthz").json()
        assert "node" not in anonymous  # anonymous: alive, and nothing more
        add_user(runtime, "ann", roles=("admin",))
        auth = {"authorization": f"Bearer {api_token(runtime, 'ann')}"}
        assert client.get("/healthz", headers=auth).json()["node"] == "node-a"
        assert client.get("/metrics").status_code == 401
        text = client.get("/metrics", headers=auth).text
        assert 'callport_node_info{node="node-a"} 1' in text
