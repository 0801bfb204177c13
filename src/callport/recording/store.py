"""Where finished recordings live: a ``RecordingStore`` (a Protocol) of named objects.

A recording is two objects: ``ID.json`` (its metadata, with the sealed transcript) and its
audio (``ID.wav.enc``: sealed chunks, ``crypt``). The recorder writes the audio to a local
file as the call goes (crash-safe: a kill -9 leaves it decryptable up to its last chunk); the
store is what listing, playback, export, retention and erasure read and delete through.

``LocalStore`` (a directory: ``recording.dir``, default ``recordings/`` beside ``server.db``)
is the default with SQLite; ``S3Store`` (``recording.s3``, an S3-compatible bucket) and
``PostgresRecordingStore`` (``recording.postgres``, rows of the ``server.db`` PostgreSQL
database) are the shared implementations of the same five methods.
``tests/recording/test_store_contract.py`` is the contract every implementation passes.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

_NAME = re.compile(r"rec-[A-Za-z0-9_.-]{1,200}")


def valid_name(name: str) -> bool:
    """An object name a store accepts: ``rec-...`` with no path separator and no ``..``."""
    return bool(_NAME.fullmatch(name)) and ".." not in name


class RecordingStore(Protocol):
    """Named objects of the recordings (``rec-ID.json``, ``rec-ID.wav.enc``)."""

    def names(self) -> list[str]:
        """Every object's name, sorted."""
        ...

    def read(self, name: str) -> bytes:
        """An object's bytes; ``FileNotFoundError`` when there is none."""
        ...

    def write(self, name: str, data: bytes) -> None:
        """Store ``data`` under ``name`` whole (a reader never sees half of it)."""
        ...

    def delete(self, name: str) -> bool:
        """Remove ``name``; False when it was not there."""
        ...

    def exists(self, name: str) -> bool: ...


class LocalStore:
    """A ``RecordingStore`` in one directory (written to a temporary name, then renamed)."""

    def __init__(self, *, directory: Path) -> None:
        self.directory = directory

    def _path(self, name: str) -> Path:
        if not valid_name(name):
            raise ValueError(f"not a recording object name: {name!r}")
        return self.directory / name

    def names(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted(p.name for p in self.directory.iterdir()
                      if p.is_file() and valid_name(p.name) and not p.name.endswith(".tmp"))

    def read(self, name: str) -> bytes:
        return self._path(name).read_bytes()

    def write(self, name: str, data: bytes) -> None:
        path = self._path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def delete(self, name: str) -> bool:
        path = self._path(name)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    def exists(self, name: str) -> bool:
        return self._path(name).is_file()


@runtime_checkable
class BulkReader(Protocol):
    """A store that reads many objects in one round trip (``PostgresRecordingStore``)."""

    def objects(self, suffix: str) -> list[tuple[str, bytes]]:
        """Every object whose name ends with ``suffix``, with its bytes, sorted by name."""
        ...


def metadata(store: RecordingStore) -> list[dict[str, Any]]:
    """Every recording's metadata (``rec-*.json``), in name order; unreadable ones skipped."""
    if isinstance(store, BulkReader):
        blobs = [blob for _name, blob in store.objects(".json")]
    else:
        blobs = []
        for name in store.names():
            if not name.endswith(".json"):
                continue
            try:
                blobs.append(store.read(name))
            except OSError:
                continue
    out = []
    for blob in blobs:
        try:
            out.append(json.loads(blob.decode("utf-8")))
        except ValueError:
            continue
    return out


def remove(store: RecordingStore, rec_id: str) -> list[str]:
    """Delete every object of recording ``rec_id`` (its audio, metadata, anything
    ``rec_id.*``); the names removed."""
    gone = [n for n in store.names() if n.startswith(rec_id + ".")]
    return [n for n in gone if store.delete(n)]
