"""The recording tests run calls on the call-core fakes (tests/call/call_fakes.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "call"))
sys.path.insert(0, str(Path(__file__).parent))  # recording_e2e_support
