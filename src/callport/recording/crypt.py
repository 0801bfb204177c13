"""Recordings encrypted at rest: AES-256-GCM (``cryptography``), one random 96-bit nonce per
file, the recording id as associated data (a file renamed to another id does not open).

The key is ``recording.key`` (base64 of 32 bytes; ``CALLPORT_RECORDING_KEY``). Without one,
a key is generated once into ``recording.key`` in the data directory (mode 0600) and reused:
recording is never refused for want of a key, and its audio is never written unencrypted
(sealed chunk by chunk as the call goes: ``SealedWriter``). Keep that file (or set the key)
elsewhere to make a copied data directory unreadable. With recordings shared between nodes
(PostgreSQL, S3), every node needs the same ``recording.key``: a generated key is one node's
own, and that is warned about.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from callport.config import ConfigError
from callport.config_server import files_dir

log = logging.getLogger(__name__)
MAGIC = b"CPREC1"


def load_key(settings: Any) -> bytes:
    """The recordings key (see the module doc)."""
    configured: str = settings.recording.key
    if configured:
        try:
            key = base64.b64decode(configured, validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != 32:
            raise ConfigError("recording.key: use the base64 of 32 random bytes (openssl rand "
                              "-base64 32)")
        return key
    path = files_dir(settings.server.db) / "recording.key"
    try:
        return base64.b64decode(path.read_text(encoding="ascii").strip(), validate=True)
    except FileNotFoundError:
        pass
    key = AESGCM.generate_key(bit_length=256)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(base64.b64encode(key).decode() + "\n")
    log.warning("recording: generated a recordings key in %s (set recording.key to keep it "
                "elsewhere)", path)
    if settings.recording.kept_in(settings.server.db) != "local":
        log.warning("recording: the recordings are shared with other nodes, but this key is "
                    "this node's own: set the same recording.key (CALLPORT_RECORDING_KEY) on "
                    "every node, or the others list these recordings and cannot play them")
    return key


def seal(key: bytes, data: bytes, *, name: str) -> bytes:
    nonce = os.urandom(12)
    return MAGIC + nonce + AESGCM(key).encrypt(nonce, data, name.encode())


def unseal(key: bytes, blob: bytes, *, name: str) -> bytes:
    """The plaintext; ``ValueError`` for a wrong key, another file or a damaged one."""
    if not blob.startswith(MAGIC):
        raise ValueError("not an encrypted recording")
    nonce, body = blob[len(MAGIC):len(MAGIC) + 12], blob[len(MAGIC) + 12:]
    try:
        return AESGCM(key).decrypt(nonce, body, name.encode())
    except Exception as exc:  # InvalidTag
        raise ValueError("the recording does not open with this key (or was changed)") from exc


def seal_file(key: bytes, plain: Path, *, name: str) -> Path:
    """Encrypt ``plain`` to ``plain.enc`` (written whole, then renamed) and remove ``plain``."""
    sealed = plain.with_name(plain.name + ".enc")
    tmp = sealed.with_name(sealed.name + ".tmp")
    tmp.write_bytes(seal(key, plain.read_bytes(), name=name))
    os.replace(tmp, sealed)
    plain.unlink()
    return sealed


# Written as it goes: sealed chunks (crash-safe). A file is
#   STREAM_MAGIC + an 8-byte random nonce prefix, then chunks of
#   4-byte little-endian length + AES-GCM(nonce = prefix + chunk index (4 bytes, big endian),
#                                         associated data = name | index | last flag).
# Each chunk is authenticated on its own, in its place (a chunk moved, dropped from the middle
# or taken from another recording does not open); a reader stops at the last whole chunk, so
# a process killed mid-call leaves a file that opens up to its last chunk written. The last
# chunk of a finished recording carries the last flag: ``complete`` tells the two apart.
STREAM_MAGIC = b"CPREC2"
_PREFIX = 8


def _aad(name: str, index: int, last: bool) -> bytes:
    return name.encode() + b"|" + index.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


class SealedWriter:
    """Appends sealed chunks to ``path`` (created anew), flushed after each one."""

    def __init__(self, *, key: bytes, path: Path, name: str) -> None:
        self._aes = AESGCM(key)
        self._name = name
        self._prefix = os.urandom(_PREFIX)
        self._index = 0
        self._file = open(path, "wb")  # noqa: SIM115 - closed by close()
        self._file.write(STREAM_MAGIC + self._prefix)
        self._file.flush()

    def write(self, data: bytes, *, last: bool = False) -> None:
        if self._file.closed:
            raise ValueError("sealed recording already closed")
        nonce = self._prefix + self._index.to_bytes(4, "big")
        body = self._aes.encrypt(nonce, data, _aad(self._name, self._index, last))
        self._file.write(len(body).to_bytes(4, "little") + body)
        self._file.flush()
        self._index += 1

    def close(self, tail: bytes = b"") -> None:
        """Write ``tail`` as the last chunk (may be empty) and close."""
        if not self._file.closed:
            self.write(tail, last=True)
            self._file.close()


def open_stream(key: bytes, blob: bytes, *, name: str) -> tuple[bytes, bool]:
    """The plaintext of a sealed-chunk file up to its last whole chunk, and whether it was
    finished (its last chunk is there). ``ValueError`` for a wrong key or a changed chunk."""
    if not blob.startswith(STREAM_MAGIC):
        raise ValueError("not a sealed recording stream")
    aes = AESGCM(key)
    prefix = blob[len(STREAM_MAGIC):len(STREAM_MAGIC) + _PREFIX]
    at, index, parts = len(STREAM_MAGIC) + _PREFIX, 0, []
    while at + 4 <= len(blob):
        size = int.from_bytes(blob[at:at + 4], "little")
        if at + 4 + size > len(blob):
            break  # cut short by a crash: the chunk was being written
        body = blob[at + 4:at + 4 + size]
        nonce = prefix + index.to_bytes(4, "big")
        for last in (False, True):
            try:
                parts.append(aes.decrypt(nonce, body, _aad(name, index, last)))
            except Exception:  # InvalidTag: try the other flag
                continue
            if last:
                return b"".join(parts), True
            break
        else:
            raise ValueError("the recording does not open with this key (or was changed)")
        at += 4 + size
        index += 1
    return b"".join(parts), False
