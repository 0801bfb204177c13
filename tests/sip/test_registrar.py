"""The agents' registrar, pure: digest, the location service, Expires/Contact rules (RFC 3261
§10.3), in simulated time."""

from __future__ import annotations

import pytest

from callport.channels.sip.auth import authorization
from callport.channels.sip.message import SipRequest, SipResponse, parse_message
from callport.channels.sip.registrar import Registrar, RegistrarPolicy
from callport.channels.sip.registrar_bindings import Location, same_contact
from callport.store.users import digest_keys

SRC = ("127.0.0.1", 40000)
AOR = "sip:alice@127.0.0.1"
CONTACT = "sip:alice@192.168.1.20:5062"


def register(*, user: str = "alice", contact: str | None = CONTACT, expires: str | None = "600",
             cseq: int = 1, call_id: str = "reg-1", auth: str = "",
             aor: str | None = None) -> SipRequest:
    headers = [("Via", "SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bK" + f"{call_id}{cseq}"),
               ("Max-Forwards", "70"), ("From", f"<{aor or f'sip:{user}@127.0.0.1'}>;tag=ft"),
               ("To", f"<{aor or f'sip:{user}@127.0.0.1'}>"), ("Call-ID", call_id),
               ("CSeq", f"{cseq} REGISTER")]
    if contact is not None:
        headers.append(("Contact", contact))
    if expires is not None:
        headers.append(("Expires", expires))
    if auth:
        headers.append(("Authorization", auth))
    return SipRequest(method="REGISTER", uri="sip:127.0.0.1", headers=tuple(headers))


class Phone:
    """A phone that answers the registrar's challenges with a password."""

    def __init__(self, reg: Registrar, *, user: str = "alice", password: str = "alice-pass-1",
                 call_id: str = "reg-1") -> None:
        self.reg, self.user, self.password, self.call_id = reg, user, password, call_id
        self.cseq = 0
        self.challenge = ""
        self.nc = 0

    def send(self, now: float, **kw: object) -> SipResponse:
        self.cseq += 1
        auth = ""
        if self.challenge:
            self.nc += 1
            auth = authorization(self.challenge, username=self.user, password=self.password,
                                 method="REGISTER", uri="sip:127.0.0.1", nc=self.nc) or ""
        req = register(user=self.user, cseq=self.cseq, call_id=self.call_id, auth=auth,
                       **kw)  # type: ignore[arg-type]
        resp = self.reg.handle(req, source=SRC, transport="UDP", now=now).response
        # a response must survive the wire
        parsed = parse_message(bytes(resp))
        assert isinstance(parsed, SipResponse)
        if resp.status == 401:
            self.challenge = resp.get("WWW-Authenticate") or ""
            self.nc = 0
        return resp

    def register(self, now: float, **kw: object) -> SipResponse:
        """Send, answer a challenge if one comes (as phones do), return the final answer."""
        resp = self.send(now, **kw)
        if resp.status == 401:
            resp = self.send(now, **kw)
        return resp


@pytest.fixture
def reg() -> Registrar:
    r = Registrar(policy=RegistrarPolicy(min_expires=60, max_expires=3600))
    r.set_agents({"alice": digest_keys("alice", "alice-pass-1"),
                  "bob": digest_keys("bob", "bob-pass-22")})
    return r


def test_register_challenge_then_200_lists_the_binding(reg: Registrar) -> None:
    phone = Phone(reg)
    first = phone.send(0.0)
    assert first.status == 401
    challenge = first.get("WWW-Authenticate") or ""
    assert 'realm="callport"' in challenge and 'qop="auth"' in challenge
    ok = phone.send(0.0)
    assert ok.status == 200
    assert ok.get_all("Contact") == [f"<{CONTACT}>;expires=600"]
    [binding] = reg.contacts("alice", 1.0)
    assert binding.source == SRC and binding.transport == "UDP"
    assert reg.online("alice", 599.0) and not reg.online("alice", 600.5)
    assert not reg.online("bob", 1.0)


def test_wrong_password_unknown_user_and_non_agent_are_403(reg: Registrar) -> None:
    assert Phone(reg, password="wrong-password").register(0.0).status == 403
    assert Phone(reg, user="mallory", password="x" * 10).register(0.0).status == 403
    assert not reg.online("alice", 1.0)
    # a user who is not an agent has no keys at all: refused like an unknown one
    reg.set_agents({"alice": digest_keys("alice", "alice-pass-1")})
    assert Phone(reg, user="bob", password="bob-pass-22").register(0.0).status == 403
    assert reg.stats["refused"] == 3


def test_an_agent_cannot_register_someone_elses_aor(reg: Registrar) -> None:
    phone = Phone(reg, user="bob", password="bob-pass-22")
    resp = phone.register(0.0, aor="sip:alice@127.0.0.1")
    assert resp.status == 403
    assert not reg.online("alice", 1.0)


def test_stale_nonce_is_challenged_again_with_stale_true(reg: Registrar) -> None:
    phone = Phone(reg)
    assert phone.register(0.0).status == 200
    late = phone.send(120.0)  # same nonce, long after its lifetime
    assert late.status == 401 and "stale=true" in (late.get("WWW-Authenticate") or "")
    assert phone.send(120.0).status == 200


def test_replayed_answer_is_refused(reg: Registrar) -> None:
    phone = Phone(reg)
    phone.send(0.0)
    auth = authorization(phone.challenge, username="alice", password="alice-pass-1",
                         method="REGISTER", uri="sip:127.0.0.1", nc=1) or ""
    assert reg.handle(register(auth=auth, cseq=2), source=SRC, transport="UDP",
                      now=0.0).response.status == 200
    again = reg.handle(register(auth=auth, cseq=3), source=SRC, transport="UDP", now=0.0)
    assert again.response.status == 403 and "replayed" in again.refused


def test_expiry_drops_the_binding(reg: Registrar) -> None:
    phone = Phone(reg)
    assert phone.register(0.0, expires="120").status == 200
    assert reg.deadline() == 120.0
    assert reg.expire(119.0) == []
    assert [b.agent for b in reg.expire(120.0)] == ["alice"]
    assert reg.contacts("alice", 120.0) == [] and len(reg.location) == 0


def test_refresh_keeps_one_binding_and_moves_expiry(reg: Registrar) -> None:
    phone = Phone(reg)
    phone.register(0.0, expires="300")
    resp = phone.register(200.0, expires="300")
    assert resp.status == 200 and resp.get_all("Contact") == [f"<{CONTACT}>;expires=300"]
    [b] = reg.contacts("alice", 201.0)
    assert b.expires_at == 500.0


def test_unregister_with_expires_0_and_with_star(reg: Registrar) -> None:
    phone = Phone(reg)
    phone.register(0.0)
    phone.register(1.0, contact="<sip:alice@10.0.0.9:5060>;expires=900")
    assert len(reg.contacts("alice", 2.0)) == 2
    resp = phone.register(3.0, contact=CONTACT, expires="0")
    assert resp.status == 200
    assert resp.get_all("Contact") == ["<sip:alice@10.0.0.9:5060>;expires=898"]
    resp = phone.register(4.0, contact="*", expires="0")
    assert resp.status == 200 and resp.get_all("Contact") == []
    assert not reg.online("alice", 5.0)


def test_star_needs_expires_0(reg: Registrar) -> None:
    assert Phone(reg).register(0.0, contact="*", expires="60").status == 400


def test_too_brief_is_423_with_min_expires_and_long_is_shortened(reg: Registrar) -> None:
    phone = Phone(reg)
    resp = phone.register(0.0, expires="10")
    assert resp.status == 423 and resp.get("Min-Expires") == "60"
    assert not reg.online("alice", 0.0)
    resp = phone.register(0.0, expires="99999")
    assert resp.status == 200 and resp.get_all("Contact") == [f"<{CONTACT}>;expires=3600"]


def test_contact_expires_param_wins_over_header(reg: Registrar) -> None:
    resp = Phone(reg).register(0.0, contact=f"<{CONTACT}>;expires=90", expires="600")
    assert resp.get_all("Contact") == [f"<{CONTACT}>;expires=90"]


def test_query_without_contact_lists_bindings(reg: Registrar) -> None:
    phone = Phone(reg)
    phone.register(0.0)
    resp = phone.register(10.0, contact=None, expires=None)
    assert resp.status == 200 and resp.get_all("Contact") == [f"<{CONTACT}>;expires=590"]


def test_out_of_order_cseq_is_refused(reg: Registrar) -> None:
    phone = Phone(reg)
    phone.register(0.0)
    phone.cseq = 0  # the same Call-ID with a CSeq that is not higher than the binding's
    phone.challenge = ""
    resp = phone.register(1.0, expires="0")
    assert resp.status == 500
    assert reg.online("alice", 2.0)


def test_bad_expires_is_400(reg: Registrar) -> None:
    assert Phone(reg).register(0.0, expires="soon").status == 400


def test_removed_agent_loses_bindings(reg: Registrar) -> None:
    Phone(reg).register(0.0)
    assert reg.online("alice", 1.0)
    assert reg.set_agents({"bob": digest_keys("bob", "bob-pass-22")}) == ["alice"]
    assert not reg.online("alice", 1.0)


def test_sha256_answers_are_accepted() -> None:
    reg = Registrar(policy=RegistrarPolicy(algorithms=("SHA-256", "MD5")))
    reg.set_agents({"alice": digest_keys("alice", "alice-pass-1")})
    first = reg.handle(register(), source=SRC, transport="UDP", now=0.0).response
    challenges = first.get_all("WWW-Authenticate")
    assert len(challenges) == 2 and "algorithm=SHA-256" in challenges[0]
    auth = authorization(challenges[0], username="alice", password="alice-pass-1",
                         method="REGISTER", uri="sip:127.0.0.1") or ""
    assert "algorithm=SHA-256" in auth
    ok = reg.handle(register(auth=auth, cseq=2), source=SRC, transport="UDP", now=0.0)
    assert ok.response.status == 200 and ok.agent == "alice"


def test_location_bounds_and_uri_equality() -> None:
    assert same_contact("sip:a@HOST:5060", "sip:a@host")
    assert not same_contact("sip:a@host;transport=tcp", "sip:a@host")
    loc = Location(max_per_agent=2)
    from callport.channels.sip.registrar_bindings import Binding

    for i in range(4):
        loc.put(Binding(agent="a", contact=f"sip:a@10.0.0.{i}", source=SRC, transport="UDP",
                        expires_at=100.0, call_id="c", cseq=i, registered_at=float(i)))
    assert [b.contact for b in loc.bindings("a", 0.0)] == ["sip:a@10.0.0.3", "sip:a@10.0.0.2"]


def test_user_agent_answers_register_through_its_registrar(reg: Registrar) -> None:
    from callport.channels.sip.events import Transmit
    from callport.channels.sip.useragent import UaConfig, UserAgent

    ua = UserAgent(config=UaConfig(host="127.0.0.1", port=5060), registrar=reg)
    [out] = ua.receive(bytes(register()), SRC, 0.0)
    assert isinstance(out, Transmit) and out.addr == SRC
    challenge = parse_message(out.data)
    assert isinstance(challenge, SipResponse) and challenge.status == 401
    auth = authorization(challenge.get("WWW-Authenticate") or "", username="alice",
                         password="alice-pass-1", method="REGISTER", uri="sip:127.0.0.1") or ""
    [out] = ua.receive(bytes(register(auth=auth, cseq=2)), SRC, 0.0)
    ok = parse_message(out.data)
    assert isinstance(ok, SipResponse) and ok.status == 200
    assert reg.online("alice", 1.0)
    plain = UserAgent(config=UaConfig(host="127.0.0.1", port=5060))  # no registrar: 405
    [out] = plain.receive(bytes(register()), SRC, 0.0)
    refused = parse_message(out.data)
    assert isinstance(refused, SipResponse) and refused.status == 405
