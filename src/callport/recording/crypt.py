"""Recordings encrypted at rest: AES-256-GCM (``cryptography``), one random 96-bit nonce per
file, the recording id as associated data (a file renamed to another id does not open).

The key is ``recording.key`` (base64 of 32 bytes; ``CALLPORT_RECORDING_KEY``). Without one,
a key is generated once into ``recording.key`` in the data directory (mode 0600) and reused:
recording is never refused for want of a key, and never written unencrypted once the call
ends. Keep that file (or set the key) elsewhere to make a copied data directory unreadable.
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
    path = Path(settings.server.db).parent / "recording.key"
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
