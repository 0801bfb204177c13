"""Fixtures for the twilio tests live in twilio_support (importable by a unique name)."""

from twilio_support import *  # noqa: F403
