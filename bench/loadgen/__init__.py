"""The load method every channel shares (``bench/bench_load.py``).

- ``server``: a real ``callport serve`` child (echo flow, Silero VAD) and its own CPU time;
- ``audio``: caller speech with pauses (espeak-ng at 8 kHz) as 20 ms µ-law frames;
- ``channels`` (Twilio, Telnyx, browser) and ``sip``: one small adapter per channel (connect,
  send a frame, frames back, hang up);
- ``caller``: a generator process pacing every call's frames on the monotonic clock,
  checking its own lateness and matching echoed frames to the ones it sent.
"""
