"""The dial tests reuse the provider simulators of tests/twilio, tests/telnyx and tests/sip."""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
for folder in ("twilio", "telnyx", "sip", "server"):
    if str(TESTS / folder) not in sys.path:
        sys.path.append(str(TESTS / folder))
