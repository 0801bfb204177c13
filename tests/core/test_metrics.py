from __future__ import annotations

from callport.server.metrics import Metrics


def test_prometheus_text() -> None:
    m = Metrics()
    m.active_calls.inc()
    m.frames_in.inc(3)
    m.vad_seconds.observe(0.0002)
    m.turn_latency_seconds.observe(0.8)
    text = m.render()
    assert "callport_active_calls 1" in text
    assert "callport_frames_in_total 3" in text
    assert 'callport_vad_seconds_bucket{le="0.0005"} 1' in text
    assert 'callport_turn_latency_seconds_bucket{le="0.75"} 0' in text
    assert 'callport_turn_latency_seconds_bucket{le="1"} 1' in text
    assert "callport_turn_latency_seconds_count 1" in text
