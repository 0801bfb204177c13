"""Fixtures for the sip tests live in sip_support (importable by a unique name)."""

from sip_support import *  # noqa: F403
