"""SIP header values (RFC 3261 §20, §25): lists, parameters, URIs, name-addr, Via, CSeq.

Pure parsing and formatting of the values inside headers; the message around them is
``callport.channels.sip.message``. Garbage raises ``SipParseError``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from callport.channels.sip.errors import SipParseError


def split_list(value: str) -> list[str]:
    """Split a comma-joined header value, honouring quotes and <...>."""
    out: list[str] = []
    depth_angle = False
    quoted = False
    start = 0
    i = 0
    while i < len(value):
        ch = value[i]
        if quoted:
            if ch == "\\":
                i += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "<":
            depth_angle = True
        elif ch == ">":
            depth_angle = False
        elif ch == "," and not depth_angle:
            part = value[start:i].strip()
            if part:
                out.append(part)
            start = i + 1
        i += 1
    part = value[start:].strip()
    if part:
        out.append(part)
    return out


def parse_params(text: str) -> dict[str, str | None]:
    """``;a=b;c`` -> {"a": "b", "c": None} (names lower-cased, quotes kept off)."""
    params: dict[str, str | None] = {}
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        val: str | None = value.strip() if sep else None
        if val is not None and len(val) >= 2 and val[0] == '"' and val[-1] == '"':
            val = val[1:-1]
        params[name.strip().lower()] = val
    return params


def format_params(params: dict[str, str | None]) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


@dataclass(frozen=True, slots=True, kw_only=True)
class SipUri:
    """sip:/sips:/tel: URI (RFC 3261 §19.1). ``host`` is empty for tel: URIs."""

    scheme: str
    user: str = ""
    password: str = ""
    host: str = ""
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    headers: str = ""

    @classmethod
    def parse(cls, text: str) -> SipUri:
        text = text.strip()
        scheme, sep, rest = text.partition(":")
        scheme = scheme.lower()
        if not sep or scheme not in {"sip", "sips", "tel"}:
            raise SipParseError(f"unsupported URI {text[:60]!r}", 416)
        rest, _, hdrs = rest.partition("?")
        if scheme == "tel":
            number, _, ptext = rest.partition(";")
            if not number:
                raise SipParseError("empty tel URI")
            return cls(scheme=scheme, user=number, params=parse_params(ptext), headers=hdrs)
        userinfo, at, hostpart = rest.rpartition("@")
        if not at:
            hostpart = rest
        hostport, _, ptext = hostpart.partition(";")
        user, _, password = userinfo.partition(":")
        host, port = split_hostport(hostport)
        return cls(scheme=scheme, user=user, password=password, host=host, port=port,
                   params=parse_params(ptext), headers=hdrs)

    def __str__(self) -> str:
        if self.scheme == "tel":
            text = f"tel:{self.user}{format_params(self.params)}"
        else:
            userinfo = self.user + (f":{self.password}" if self.password else "")
            host = f"[{self.host}]" if ":" in self.host else self.host
            port = f":{self.port}" if self.port is not None else ""
            at = "@" if userinfo else ""
            text = f"{self.scheme}:{userinfo}{at}{host}{port}{format_params(self.params)}"
        return text + (f"?{self.headers}" if self.headers else "")


def split_hostport(text: str) -> tuple[str, int | None]:
    text = text.strip()
    if not text:
        raise SipParseError("missing host")
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise SipParseError("bad IPv6 reference")
        host, rest = text[1:end], text[end + 1:]
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port_text = text.partition(":")
    if not host or any(c.isspace() for c in host):
        raise SipParseError(f"bad host {text[:60]!r}")
    port: int | None = None
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise SipParseError(f"bad port {port_text[:20]!r}")
        port = int(port_text)
    return host, port


@dataclass(frozen=True, slots=True, kw_only=True)
class NameAddr:
    """``"Display" <uri>;params`` or ``uri;params`` (From, To, Contact, Route, Refer-To)."""

    uri: str
    display: str = ""
    params: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> NameAddr:
        text = text.strip()
        lt = text.find("<")
        if lt >= 0:
            gt = text.find(">", lt)
            if gt < 0:
                raise SipParseError("unclosed <")
            display = text[:lt].strip().strip('"')
            uri = text[lt + 1:gt].strip()
            ptext = text[gt + 1:]
        else:
            display = ""
            uri, _, ptext = text.partition(";")
            uri = uri.strip()
            ptext = ";" + ptext
        if not uri:
            raise SipParseError("empty address")
        return cls(uri=uri, display=display, params=parse_params(ptext))

    @property
    def tag(self) -> str:
        return self.params.get("tag") or ""

    def with_tag(self, tag: str) -> NameAddr:
        params = dict(self.params)
        params["tag"] = tag
        return replace(self, params=params)

    def __str__(self) -> str:
        display = f'"{self.display}" ' if self.display else ""
        return f"{display}<{self.uri}>{format_params(self.params)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Via:
    transport: str
    host: str
    port: int | None
    params: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Via:
        proto, _, rest = text.strip().partition(" ")
        parts = proto.split("/")
        if len(parts) != 3 or parts[0].upper() != "SIP":
            raise SipParseError(f"bad Via {text[:60]!r}")
        sent_by, _, ptext = rest.strip().partition(";")
        host, port = split_hostport(sent_by)
        return cls(transport=parts[2].upper(), host=host, port=port, params=parse_params(ptext))

    @property
    def branch(self) -> str:
        return self.params.get("branch") or ""

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.port is not None else ""
        return f"SIP/2.0/{self.transport} {host}{port}{format_params(self.params)}"


def parse_cseq(text: str) -> tuple[int, str]:
    num, _, method = text.strip().partition(" ")
    if not num.isdigit() or not method.strip() or int(num) >= 2**31:
        raise SipParseError(f"bad CSeq {text[:40]!r}")
    return int(num), method.strip().upper()
