"""Fixtures for the Task Manager tests live in taskmanager_support (importable by a unique name)."""

from taskmanager_support import *  # noqa: F403
