"""``callport doctor``'s queue checks: every ``[queues.NAME]`` has agents to take its calls
and hold music that plays; no agent is a member of a queue that is not configured."""

from __future__ import annotations

from callport.config import QueueSettings, Settings
from callport.types import User

Check = tuple[str, bool, str]


def queue_checks(settings: Settings, users: list[User]) -> list[Check]:
    agents = [u for u in users if u.has_role("agent")]
    out: list[Check] = []
    for queue in settings.queues.named:
        members = sorted(u.name for u in agents if queue.name in u.queues)
        name = f"queue {queue.name}"
        if members:
            out.append((name, True, f"{queue.strategy}; agents: {', '.join(members)}"))
        else:
            out.append((name, False, "no agent takes its calls: callport users add NAME "
                                     f"--role agent --queue {queue.name} --password-stdin"))
        out.append(_music(queue.name, queue))
    if settings.queues.named and settings.server.redis:
        out.append(_across_nodes(settings))
    known = {q.name for q in settings.queues.named}
    for user in agents:
        unknown = [q for q in user.queues if q not in known]
        if unknown:
            out.append((f"agent {user.name}", False,
                        f"member of {', '.join(unknown)}, which no [queues.NAME] configures"))
    return out


MIN_SECRET = 16  # characters of server.node_secret


def _across_nodes(settings: Settings) -> Check:
    """With ``server.redis``: do the queues span the nodes (docs/scale-out.md)?"""
    secret, label = settings.server.node_secret, "queues across nodes"
    if not secret:
        return (label, False, "server.redis is set but server.node_secret "
                              "(CALLPORT_NODE_SECRET) is not: each node keeps its queues to "
                              "itself; set the same secret on every node")
    if len(secret) < MIN_SECRET:
        return (label, False, f"server.node_secret is shorter than {MIN_SECRET} characters: "
                              "use a long random one (the same on every node)")
    from callport.server.queue_relay import node_url

    return (label, True, f"shared through Redis; other nodes reach this one at "
                         f"{node_url(settings)}")


def _music(name: str, queue: QueueSettings) -> Check:
    from callport.queues.prompts import music_of

    label = f"queue {name} hold music"
    try:
        pcm, rate = music_of(queue)
    except Exception as exc:
        return (label, False, f"cannot be played ({exc}); the built-in loop plays instead")
    return (label, True, f"{len(pcm) / rate:.1f} s loop")
