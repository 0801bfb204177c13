"""``server.wsfast.FastWebSocketProtocol``: the short path for whole data frames keeps every
WebSocket rule of uvicorn's sans-IO protocol (pings, fragments, size limit, UTF-8, masking,
close codes), on a real uvicorn server, with a websockets client and with raw bytes."""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
import websockets
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from callport.server.wsfast import PAUSE_AT, FastWebSocketProtocol, frame_header

MAX_SIZE = 4096
closes: list[int] = []  # the codes the app saw in websocket.disconnect


async def _echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                closes.append(int(message.get("code", 0)))
                return
            if message.get("text") == "close-1008":
                await websocket.close(1008)
                return
            if message.get("text") is not None:
                await websocket.send_text(message["text"])
            else:
                await websocket.send_bytes(message["bytes"])
    except WebSocketDisconnect:
        return


async def _burst(websocket: WebSocket) -> None:
    """Reads nothing for a while, then counts what came (back-pressure past PAUSE_AT)."""
    await websocket.accept()
    await asyncio.sleep(0.3)
    got = 0
    while got < 3 * PAUSE_AT:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            break
        got += 1
    await websocket.send_text(str(got))


@pytest.fixture
async def server() -> AsyncIterator[uvicorn.Server]:
    closes.clear()
    app = Starlette(routes=[WebSocketRoute("/ws", _echo), WebSocketRoute("/burst", _burst)])
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off",
                            ws=FastWebSocketProtocol, ws_max_size=MAX_SIZE)
    srv = uvicorn.Server(config)
    task = asyncio.create_task(srv.serve())
    while not srv.started:
        await asyncio.sleep(0.01)
    yield srv
    srv.should_exit = True
    await task


def _url(srv: uvicorn.Server, path: str = "/ws") -> str:
    return f"ws://127.0.0.1:{srv.servers[0].sockets[0].getsockname()[1]}{path}"


def _protocols(srv: uvicorn.Server) -> list[Any]:
    return [c for c in srv.server_state.connections if isinstance(c, FastWebSocketProtocol)]


async def test_text_and_binary_echo_on_the_short_path(server: uvicorn.Server) -> None:
    async with websockets.connect(_url(server), compression=None) as ws:
        for size in (0, 5, 125, 126, 300, 65535 % MAX_SIZE, MAX_SIZE):
            await ws.send("é" * (size // 2))
            assert await ws.recv() == "é" * (size // 2)
            await ws.send(bytes(range(256)) * (size // 256) + b"x" * (size % 256))
            assert await ws.recv() == bytes(range(256)) * (size // 256) + b"x" * (size % 256)
        (proto,) = _protocols(server)
        assert proto._framing  # the short path carried them


async def test_pings_are_answered_and_the_short_path_goes_on(server: uvicorn.Server) -> None:
    async with websockets.connect(_url(server), compression=None) as ws:
        for _ in range(3):
            pong = await ws.ping(b"are you there")
            await asyncio.wait_for(pong, 5)
            await ws.send("after the ping")
            assert await ws.recv() == "after the ping"
        (proto,) = _protocols(server)
        assert proto._framing


async def test_a_fragmented_message_is_delivered_whole(server: uvicorn.Server) -> None:
    async with websockets.connect(_url(server), compression=None) as ws:
        await ws.send(["frag", "ment", "ed"])  # three frames, FIN on the last
        assert await ws.recv() == "fragmented"
        await ws.send("and then whole")
        assert await ws.recv() == "and then whole"


@pytest.mark.parametrize(("sent", "code"), [("x" * (MAX_SIZE + 1), 1009),  # over ws_max_size
                                             ("close-1008", 1008)])  # the app's own close
async def test_the_close_code_reaches_the_client(server: uvicorn.Server, sent: str,
                                                 code: int) -> None:
    async with websockets.connect(_url(server), compression=None) as ws:
        await ws.send(sent)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == code


async def test_the_peer_closing_reaches_the_app_with_its_code(server: uvicorn.Server) -> None:
    async with websockets.connect(_url(server), compression=None) as ws:
        await ws.send("hello")
        assert await ws.recv() == "hello"
        await ws.close(4000)
    for _ in range(100):
        if closes:
            break
        await asyncio.sleep(0.02)
    assert closes == [4000]


# ---- raw bytes: what a client library never sends ------------------------------------------


async def _raw(srv: uvicorn.Server, path: str = "/ws") -> tuple[asyncio.StreamReader,
                                                               asyncio.StreamWriter]:
    port = srv.servers[0].sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                 f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                 "Sec-WebSocket-Version: 13\r\n\r\n".encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 101")
    return reader, writer


def _masked(opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0) -> bytes:
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    first = (0x80 if fin else 0) | rsv | opcode
    n = len(payload)
    length = (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack("!H", n))
    return bytes([first]) + length + mask + body


async def _frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await asyncio.wait_for(reader.readexactly(2), 5)
    n = head[1] & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", await reader.readexactly(2))
    return head[0] & 0x0F, await reader.readexactly(n)


async def _close_code(reader: asyncio.StreamReader) -> int:
    opcode, payload = await _frame(reader)
    assert opcode == 0x8
    return int(struct.unpack("!H", payload[:2])[0])


async def test_frames_split_anywhere_and_packed_together_are_delivered(
        server: uvicorn.Server) -> None:
    reader, writer = await _raw(server)
    stream = b"".join(_masked(0x1, f"frame {i} ".encode() * 20) for i in range(5))
    for i in range(0, len(stream), 7):  # seven bytes at a time: headers and masks cut too
        writer.write(stream[i:i + 7])
        await writer.drain()
        await asyncio.sleep(0)
    for i in range(5):
        assert await _frame(reader) == (0x1, f"frame {i} ".encode() * 20)
    writer.write(stream)  # all five in one write
    for i in range(5):
        assert await _frame(reader) == (0x1, f"frame {i} ".encode() * 20)
    writer.close()


async def test_a_ping_gets_its_pong_between_data_frames(server: uvicorn.Server) -> None:
    reader, writer = await _raw(server)
    writer.write(_masked(0x1, b"one") + _masked(0x9, b"p1") + _masked(0x1, b"two"))
    got = [await _frame(reader) for _ in range(3)]  # the pong may overtake the app's echo
    assert [f for f in got if f[0] == 0x1] == [(0x1, b"one"), (0x1, b"two")]
    assert (0xA, b"p1") in got
    writer.close()


async def test_an_unmasked_frame_closes_1002(server: uvicorn.Server) -> None:
    reader, writer = await _raw(server)
    writer.write(b"\x81\x05hello")  # a client must mask
    assert await _close_code(reader) == 1002
    writer.close()


async def test_reserved_bits_close_1002(server: uvicorn.Server) -> None:
    reader, writer = await _raw(server)
    writer.write(_masked(0x1, b"hello", rsv=0x40))  # RSV1 without an extension
    assert await _close_code(reader) == 1002
    writer.close()


async def test_a_continuation_without_a_start_closes_1002(server: uvicorn.Server) -> None:
    reader, writer = await _raw(server)
    writer.write(_masked(0x0, b"orphan"))
    assert await _close_code(reader) == 1002
    writer.close()


async def test_invalid_utf8_text_closes_1007(server: uvicorn.Server) -> None:
    reader, writer = await _raw(server)
    writer.write(_masked(0x1, b"\xff\xfe not utf-8"))
    assert await _close_code(reader) == 1007
    writer.close()


async def test_a_slow_reader_pauses_the_socket_and_loses_nothing(
        server: uvicorn.Server) -> None:
    reader, writer = await _raw(server, "/burst")
    writer.write(b"".join(_masked(0x2, bytes([i]) * 10) for i in range(3 * PAUSE_AT)))
    assert await _frame(reader) == (0x1, str(3 * PAUSE_AT).encode())
    writer.close()


def test_frame_header_lengths() -> None:
    assert frame_header(0x1, 5) == b"\x81\x05"
    assert frame_header(0x2, 126) == b"\x82\x7e\x00\x7e"
    assert frame_header(0x1, 70000) == b"\x81\x7f" + (70000).to_bytes(8, "big")
