"""Fixtures for the fuzz campaigns live in fuzz_support (importable by a unique name)."""

from fuzz_support import serve_factory  # noqa: F401
