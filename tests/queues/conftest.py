"""The queue tests run calls on the call-core fakes (tests/call/call_fakes.py) and, end to
end, on the SIP channel with real peers (tests/sip/sip_support.py) and on the Twilio
simulator (tests/twilio/twilio_support.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "call"))
sys.path.insert(0, str(Path(__file__).parents[1] / "sip"))
sys.path.insert(0, str(Path(__file__).parents[1] / "twilio"))
