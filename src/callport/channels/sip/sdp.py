"""SDP (RFC 8866) parsing/serialization and offer/answer for G.711 audio (RFC 3264).

We speak PCMU (PT 0) and PCMA (PT 8) at 8 kHz plus ``telephone-event`` (RFC 4733) with
whatever payload type the peer picked. Directions follow RFC 3264 §6.1: an offer of
``sendonly`` is answered ``recvonly``, ``inactive`` with ``inactive``; ``c=0.0.0.0`` is the
legacy (RFC 2543) hold. Unusable audio lines are rejected with port 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from callport.channels.sip.message import SipParseError

CODECS: dict[str, int] = {"PCMU": 0, "PCMA": 8}
_STATIC: dict[int, tuple[str, int]] = {0: ("PCMU", 8000), 8: ("PCMA", 8000)}
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
_ANSWER_DIRECTION = {"sendrecv": "sendrecv", "sendonly": "recvonly",
                     "recvonly": "sendonly", "inactive": "inactive"}


class SdpError(SipParseError):
    def __init__(self, message: str) -> None:
        super().__init__(message, 488)


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaLine:
    media: str
    port: int
    proto: str
    formats: tuple[str, ...]
    address: str | None = None  # media-level c=
    rtpmap: dict[int, tuple[str, int]] = field(default_factory=dict)
    fmtp: dict[int, str] = field(default_factory=dict)
    direction: str | None = None
    ptime: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionDescription:
    origin: str
    address: str | None
    media: tuple[MediaLine, ...]
    direction: str | None = None

    def audio(self) -> MediaLine | None:
        for m in self.media:
            if m.media == "audio":
                return m
        return None


def parse_sdp(body: bytes) -> SessionDescription:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise SdpError("SDP is not UTF-8") from None
    origin = ""
    session_addr: str | None = None
    session_dir: str | None = None
    media: list[dict[str, object]] = []
    seen_v = False
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.strip()
        if not line:
            continue
        if len(line) < 2 or line[1] != "=":
            raise SdpError(f"bad SDP line {line[:40]!r}")
        kind, value = line[0], line[2:]
        if kind == "v":
            seen_v = True
        elif kind == "o":
            origin = value
        elif kind == "c":
            addr = _connection(value)
            if media:
                media[-1]["address"] = addr
            else:
                session_addr = addr
        elif kind == "m":
            parts = value.split()
            if len(parts) < 4:
                raise SdpError("bad m= line")
            port_text = parts[1].split("/")[0]
            if not port_text.isdigit() or int(port_text) > 65535:
                raise SdpError("bad m= port")
            media.append({"media": parts[0], "port": int(port_text), "proto": parts[2],
                          "formats": tuple(parts[3:]), "rtpmap": {}, "fmtp": {}})
        elif kind == "a":
            name, _, arg = value.partition(":")
            if name in DIRECTIONS:
                if media:
                    media[-1]["direction"] = name
                else:
                    session_dir = name
            elif media and name == "rtpmap":
                pt_text, _, enc = arg.partition(" ")
                enc_name, _, rate = enc.partition("/")
                rate_num = rate.partition("/")[0]
                if pt_text.isdigit() and rate_num.isdigit():
                    rtpmap = media[-1]["rtpmap"]
                    assert isinstance(rtpmap, dict)
                    rtpmap[int(pt_text)] = (enc_name, int(rate_num))
            elif media and name == "fmtp":
                pt_text, _, params = arg.partition(" ")
                if pt_text.isdigit():
                    fmtp = media[-1]["fmtp"]
                    assert isinstance(fmtp, dict)
                    fmtp[int(pt_text)] = params.strip()
            elif media and name == "ptime" and arg.strip().isdigit():
                media[-1]["ptime"] = int(arg.strip())
    if not seen_v:
        raise SdpError("SDP without v= line")
    lines = tuple(
        MediaLine(
            media=str(m["media"]), port=int(str(m["port"])), proto=str(m["proto"]),
            formats=m["formats"],  # type: ignore[arg-type]
            address=m.get("address"),  # type: ignore[arg-type]
            rtpmap=m["rtpmap"],  # type: ignore[arg-type]
            fmtp=m["fmtp"],  # type: ignore[arg-type]
            direction=m.get("direction"),  # type: ignore[arg-type]
            ptime=m.get("ptime"),  # type: ignore[arg-type]
        )
        for m in media
    )
    return SessionDescription(origin=origin, address=session_addr, media=lines,
                              direction=session_dir)


def _connection(value: str) -> str:
    parts = value.split()
    if len(parts) != 3 or parts[0] != "IN" or parts[1] not in {"IP4", "IP6"}:
        raise SdpError("bad c= line")
    return parts[2].split("/")[0]


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaPlan:
    """What was agreed for the audio stream: what the RTP core needs."""

    codec: str  # PCMU or PCMA
    payload_type: int
    dtmf_payload_type: int | None
    remote_host: str
    remote_port: int
    ptime: int
    direction: str  # OUR direction: sendrecv, sendonly, recvonly, inactive

    @property
    def can_send(self) -> bool:
        return self.direction in {"sendrecv", "sendonly"}

    @property
    def can_receive(self) -> bool:
        return self.direction in {"sendrecv", "recvonly"}


def _payload_name(m: MediaLine, pt: int) -> tuple[str, int] | None:
    if pt in m.rtpmap:
        name, rate = m.rtpmap[pt]
        return name.upper() if name.upper() in CODECS else name.lower(), rate
    return _STATIC.get(pt)


def negotiate(offer: SessionDescription, *, codecs: tuple[str, ...] = ("PCMU", "PCMA"),
              remote_is_offerer: bool = True) -> MediaPlan:
    """Pick the first offered codec we support (RFC 3264 §6.1: answerer follows offer order)."""
    audio = offer.audio()
    if audio is None or audio.port == 0:
        raise SdpError("no usable audio stream")
    if audio.proto not in {"RTP/AVP", "RTP/AVPF"}:
        raise SdpError(f"unsupported media protocol {audio.proto}")
    chosen: tuple[str, int] | None = None
    dtmf: int | None = None
    for fmt in audio.formats:
        if not fmt.isdigit():
            continue
        pt = int(fmt)
        info = _payload_name(audio, pt)
        if info is None:
            continue
        name, rate = info
        if chosen is None and name in codecs and rate == 8000:
            chosen = (name, pt)
        elif dtmf is None and name == "telephone-event" and rate == 8000:
            dtmf = pt
    if chosen is None:
        raise SdpError("no common codec (need PCMU or PCMA)")
    host = audio.address or offer.address
    if host is None:
        raise SdpError("no c= line")
    theirs = audio.direction or offer.direction or "sendrecv"
    if host in {"0.0.0.0", "::"}:
        theirs = "inactive" if theirs in {"recvonly", "inactive"} else "sendonly"
    ours = _ANSWER_DIRECTION[theirs]
    ptime = audio.ptime if audio.ptime in (10, 20, 30, 40, 60) else 20
    return MediaPlan(codec=chosen[0], payload_type=chosen[1], dtmf_payload_type=dtmf,
                     remote_host=host, remote_port=audio.port, ptime=ptime or 20,
                     direction=ours if remote_is_offerer else _flip(theirs))


def combine(direction: str, wish: str) -> str:
    """The direction both allow: ``direction`` as negotiated, narrowed by what we ``wish``
    (``sendonly`` while we hold the peer). RFC 3264 §6.1: an answerer may narrow, never widen."""
    send = direction in {"sendrecv", "sendonly"} and wish in {"sendrecv", "sendonly"}
    recv = direction in {"sendrecv", "recvonly"} and wish in {"sendrecv", "recvonly"}
    return {(True, True): "sendrecv", (True, False): "sendonly",
            (False, True): "recvonly", (False, False): "inactive"}[(send, recv)]


def restrict(plan: MediaPlan, wish: str) -> MediaPlan:
    """``plan`` with its direction narrowed to ``wish`` (``combine``)."""
    narrowed = combine(plan.direction, wish)
    if narrowed == plan.direction:
        return plan
    return MediaPlan(codec=plan.codec, payload_type=plan.payload_type,
                     dtmf_payload_type=plan.dtmf_payload_type, remote_host=plan.remote_host,
                     remote_port=plan.remote_port, ptime=plan.ptime, direction=narrowed)


def _flip(theirs: str) -> str:
    # For an answer we receive: their direction is the mirror of ours.
    return _ANSWER_DIRECTION[theirs]


def build_sdp(*, host: str, port: int, session_id: int, version: int,
              payload_types: tuple[tuple[int, str], ...], dtmf_payload_type: int | None,
              direction: str = "sendrecv", ptime: int = 20) -> bytes:
    """One audio m-line; ``payload_types`` is ((pt, name), ...) in preference order."""
    ip = "IP6" if ":" in host else "IP4"
    fmts = [str(pt) for pt, _ in payload_types]
    attrs = [f"a=rtpmap:{pt} {name}/8000" for pt, name in payload_types]
    if dtmf_payload_type is not None:
        fmts.append(str(dtmf_payload_type))
        attrs.append(f"a=rtpmap:{dtmf_payload_type} telephone-event/8000")
        attrs.append(f"a=fmtp:{dtmf_payload_type} 0-16")
    lines = [
        "v=0",
        f"o=callport {session_id} {version} IN {ip} {host}",
        "s=callport",
        f"c=IN {ip} {host}",
        "t=0 0",
        f"m=audio {port} RTP/AVP {' '.join(fmts)}",
        *attrs,
        f"a=ptime:{ptime}",
        f"a={direction}",
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


def build_answer(offer: SessionDescription, plan: MediaPlan, *, host: str, port: int,
                 session_id: int, version: int) -> bytes:
    return build_sdp(host=host, port=port, session_id=session_id, version=version,
                     payload_types=((plan.payload_type, plan.codec),),
                     dtmf_payload_type=plan.dtmf_payload_type, direction=plan.direction,
                     ptime=plan.ptime)


def build_offer(*, host: str, port: int, session_id: int, version: int,
                direction: str = "sendrecv") -> bytes:
    return build_sdp(host=host, port=port, session_id=session_id, version=version,
                     payload_types=((0, "PCMU"), (8, "PCMA")), dtmf_payload_type=101,
                     direction=direction)


def build_reoffer(plan: MediaPlan, *, host: str, port: int, session_id: int, version: int,
                  direction: str) -> bytes:
    """A new offer inside a dialog (RFC 3264 §8): the agreed codec and telephone-event again,
    same session id, ``version`` one higher than our last SDP, ``direction`` as asked
    (``sendonly``: hold, RFC 3264 §8.4; ``sendrecv``: resume)."""
    return build_sdp(host=host, port=port, session_id=session_id, version=version,
                     payload_types=((plan.payload_type, plan.codec),),
                     dtmf_payload_type=plan.dtmf_payload_type, direction=direction,
                     ptime=plan.ptime)


def build_rejection(offer: SessionDescription, *, host: str, session_id: int) -> bytes:
    """Answer that rejects every stream (port 0), RFC 3264 §6."""
    ip = "IP6" if ":" in host else "IP4"
    lines = ["v=0", f"o=callport {session_id} 1 IN {ip} {host}", "s=callport",
             f"c=IN {ip} {host}", "t=0 0"]
    for m in offer.media:
        lines.append(f"m={m.media} 0 {m.proto} {' '.join(m.formats)}")
    return ("\r\n".join(lines) + "\r\n").encode()
