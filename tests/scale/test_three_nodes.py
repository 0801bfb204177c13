"""Three ``callport serve`` nodes on one PostgreSQL + Redis, Kamailio in front for SIP and
HAProxy in front for HTTP (the shipped ``deploy/`` configurations), on loopback:

- HTTP through HAProxy: a sign-in made through it works on every node (round robin), a request
  naming a node (``?node=``) reaches that node, tasks added through it are committed, and a
  browser call's token from one node opens its audio socket on whichever node HAProxy picks
  (once: a replay is refused on any node);
- sipp callers through Kamailio are spread over the three nodes (each node's /metrics);
- kill -9 of one node mid-load: its callers' calls end (their BYE finds no one: Kamailio
  answers 408), the other nodes' calls go on and complete normally, new callers are failed
  over to the survivors (Kamailio's failure_route and OPTIONS probing; HAProxy's /readyz
  checks), no committed task is lost, the dead node's call records are closed by a survivor
  (cause ``node-lost``, server.ownership), and the node rejoins cleanly and takes calls again;
- a drained node (SIGUSR1) gets no new calls (its 503 fails over) and no HTTP, and stays up.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from edges import Cluster, Node, running, sipp

pytestmark = pytest.mark.slow

REDIS_DB = 12  # this test's own database on the process's throwaway Redis, flushed first


@pytest.fixture
def three(pg_url: str) -> Iterator[Cluster]:
    with running(pg_url, redis_db=REDIS_DB) as nodes:
        yield nodes


def live_calls(nodes: list[Node]) -> dict[str, int]:
    return {n.name: int(n.metric("callport_live_calls")) for n in nodes}


def wait_until(what: str, check: object, timeout: float) -> None:
    assert callable(check)
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.25)


def open_records(db: str) -> list[tuple[str, str, str]]:
    with psycopg.connect(db) as conn:
        rows = conn.execute("SELECT call_id, status, hangup_cause FROM calls "
                            "WHERE ended_at IS NULL").fetchall()
    return [(str(a), str(b), str(c)) for a, b, c in rows]


def test_three_nodes_behind_kamailio_and_haproxy_survive_a_kill_9(three: Cluster) -> None:
    lb = httpx.Client(base_url=three.url, timeout=15)
    # A sign-in through the load balancer is good on every node (sessions in PostgreSQL).
    assert lb.get(three.sign_in).status_code == 200
    origin = {"origin": three.url}
    added: list[str] = []
    served: set[str] = set()
    for i in range(6):
        r = lb.post("/api/tasks/", json={"title": f"before {i}"}, headers=origin)
        assert r.status_code in (200, 201), r.text
        added.append(f"before {i}")
        served.add(r.headers["x-callport-node"])
    assert served == {"node1", "node2", "node3"}  # round robin over the ready nodes
    for node in three.nodes:  # a request naming its node goes there
        r = lb.get("/readyz", params={"node": node.name})
        assert r.status_code == 200 and r.headers["x-callport-node"] == node.name
    # A provider call's webhooks all reach one node (hashed over its id), different calls
    # spread. Unsigned here, so every node refuses them (403): only the routing is looked at.
    twilio = {sid: {lb.post("/twilio/voice", data={"CallSid": sid, "From": "+1555"}).headers[
        "x-callport-node"] for _ in range(3)} for sid in (f"CA{i:032x}" for i in range(12))}
    assert all(len(nodes) == 1 for nodes in twilio.values()), twilio
    assert len(set().union(*twilio.values())) >= 2, twilio
    telnyx = {cid: {lb.post("/telnyx/webhook", json={"data": {"payload": {
        "call_control_id": cid}}}).headers["x-callport-node"] for _ in range(3)}
        for cid in (f"v3:call-{i}" for i in range(12))}
    assert all(len(nodes) == 1 for nodes in telnyx.values()), telnyx
    assert len(set().union(*telnyx.values())) >= 2, telnyx

    # A browser call through HAProxy: the call token comes from one node, the audio socket
    # may land on another and runs the call there; the token is spent once across nodes.
    browser_call(three, lb)

    # sipp callers through Kamailio, spread over the nodes.
    assert three_calls(three, calls=6, tag="spread") == (6, 0)
    per_node = {n.name: n.metric("callport_calls_total") for n in three.nodes}
    assert all(count >= 1 for count in per_node.values()), per_node

    # Load: 9 calls of 12 s; once every one is live, node2 is killed.
    load = sipp(three, calls=9, rate=30, hold_ms=12000, tag="load")
    wait_until("9 live calls", lambda: sum(live_calls(three.nodes).values()) == 9, 30)
    live = live_calls(three.nodes)
    assert all(live[n] >= 1 for n in live), live
    for i in range(4):  # committed just before the kill
        r = lb.post("/api/tasks/", json={"title": f"last {i}"}, headers=origin)
        assert r.status_code in (200, 201), r.text
        added.append(f"last {i}")
    victim = three.nodes[1]
    assert victim.process is not None
    victim.process.proc.send_signal(signal.SIGKILL)
    victim.process.proc.wait(10)

    # New callers meanwhile go to the survivors (failover, then OPTIONS marks node2 down) ...
    assert three_calls(three, calls=4, tag="failover") == (4, 0)
    # ... and the load balancer stops sending HTTP to node2 (retries, then /readyz checks).
    for _ in range(6):
        r = lb.get("/api/tasks/")
        assert r.status_code == 200 and r.headers["x-callport-node"] != victim.name
    # node2's callers' calls ended; every other call completed normally.
    ok, failed = load.wait(60)
    assert (ok, failed) == (9 - live["node2"], live["node2"]), (
        live, load.process.tail(200), three.edges[0].tail(80))

    # No committed row lost.
    titles = sorted(t["title"] for t in lb.get("/api/tasks/").json())
    assert titles == sorted(added)

    # node2's records are closed by a survivor once its heartbeat expires.
    wait_until("node2's records closed", lambda: not open_records(three.db), 30)
    with psycopg.connect(three.db) as conn:
        causes: dict[str, int] = dict(conn.execute(
            "SELECT hangup_cause, count(*) FROM calls GROUP BY hangup_cause").fetchall())
    assert causes.get("node-lost") == live["node2"], causes

    # node2 rejoins cleanly: ready behind HAProxy, and Kamailio gives it calls again.
    three.start_node(victim)
    wait_until("node2 ready behind HAProxy", lambda: lb.get(
        "/readyz", params={"node": "node2"}).headers.get("x-callport-node") == "node2", 20)
    time.sleep(2.5)  # Kamailio's OPTIONS probe (every second) finds it up again
    assert three_calls(three, calls=6, tag="rejoined") == (6, 0)
    assert victim.metric("callport_calls_total") >= 1

    # Drain node3 (SIGUSR1, as the systemd unit documents): its 503s send Kamailio on to the
    # next node, its /readyz 503 takes it out of HAProxy's rotation; it stays alive.
    drained = three.nodes[2]
    assert drained.process is not None
    drained.process.proc.send_signal(signal.SIGUSR1)
    wait_until("node3 out of HAProxy's rotation", lambda: all(
        lb.get("/readyz").headers["x-callport-node"] != drained.name for _ in range(6)), 15)
    before = drained.metric("callport_calls_total")
    assert three_calls(three, calls=6, tag="drained") == (6, 0)
    assert drained.metric("callport_calls_total") == before
    assert httpx.get(f"{drained.url}/healthz", timeout=10).status_code == 200
    assert not open_records(three.db)


def three_calls(three: Cluster, *, calls: int, tag: str) -> tuple[int, int]:
    return sipp(three, calls=calls, rate=20, hold_ms=1500, tag=tag).wait(60)


def browser_call(three: Cluster, lb: httpx.Client) -> None:
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect
    from websockets.typing import Origin

    origin = {"origin": three.url}
    r = lb.post("/browser/token", headers=origin)
    assert r.status_code == 200, r.text
    token, minted_on = r.json()["token"], r.headers["x-callport-node"]
    ws_url = f"ws://127.0.0.1:{three.http_port}/browser/ws?token={token}"
    cookie = {"Cookie": "; ".join(f"{k}={v}" for k, v in lb.cookies.items())}
    page = Origin(three.url)
    with connect(ws_url, origin=page, additional_headers=cookie, open_timeout=15) as ws:
        assert ws.response is not None
        node = next(n for n in three.nodes if n.name == ws.response.headers["x-callport-node"])
        ws.send(json.dumps({"type": "start", "sample_rate": 16000, "gated": True}))
        assert json.loads(ws.recv(15))["type"] == "ready"
        ws.send(bytes(640))  # 20 ms of 16 kHz silence from the page's microphone
        wait_until(f"the browser call live on {node.name}",
                   lambda: node.metric("callport_live_calls") >= 1, 15)
        with pytest.raises(InvalidStatus):  # the same token again, wherever it lands
            connect(ws_url, origin=page, additional_headers=cookie, open_timeout=15).close()
        ws.send(json.dumps({"type": "hangup"}))
    wait_until("the browser call over", lambda: node.metric("callport_live_calls") == 0, 15)
    print(f"browser call: token from {minted_on}, audio on {node.name}")
