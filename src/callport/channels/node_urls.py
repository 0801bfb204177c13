"""URLs that lead a provider back to the node that handed them out.

With several nodes (``server.redis`` set) behind one HTTP load balancer, a Twilio or Telnyx
call's webhooks, callbacks and media stream must meet on one node: the node whose book holds
the call, whose stream carries its audio, and whose dial waits for its verdict. So the URLs a
node gives a provider name it, and the load balancer routes by that name
(``deploy/haproxy/haproxy.cfg``):

- callback URLs (Twilio ``statusCallback``/``<Connect action>``, Telnyx ``webhook_url``) get a
  ``node=NAME`` query parameter: providers keep query strings, and Twilio's signature covers
  the URL exactly as given, query included, so the check still passes on the node;
- media stream URLs get ``/NAME`` after the media path (Twilio takes no query string on a
  ``<Stream>`` URL); the channels also serve their media route under ``path/{node}``.

One node (no ``server.redis``): the URLs are unchanged.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit

__all__ = ["node_addressed", "node_of", "node_stream_path"]


def node_of(runner: object) -> str:
    """The node id URLs must name (``Runtime.node_id``) when several nodes share
    ``server.redis``; "" otherwise."""
    settings = getattr(runner, "settings", None)
    server = getattr(settings, "server", None)
    if not getattr(server, "redis", ""):
        return ""
    return str(getattr(runner, "node_id", "") or "")


def node_addressed(url: str, node: str) -> str:
    """``url`` with ``node=NAME`` added to its query; ``url`` itself when ``node`` is ""."""
    if not node or not url:
        return url
    parts = urlsplit(url)
    query = f"{parts.query}&node={quote(node, safe='')}" if parts.query \
        else f"node={quote(node, safe='')}"
    return urlunsplit(parts._replace(query=query))


def node_stream_path(path: str, node: str) -> str:
    """The media route ``path`` for ``node``: ``path/NAME``; ``path`` when ``node`` is ""."""
    return f"{path.rstrip('/')}/{quote(node, safe='')}" if node else path
