"""The node-to-node bus (several callport nodes on one Redis, ``server.redis``).

- :mod:`callport.bus.envelopes`: the typed, validated messages (sans-IO): a live event from
  a node, a command for the node that owns a call, and its reply.
- :mod:`callport.bus.redis_bus`: Redis pub/sub carrying them: one channel every node hears
  (live events) and one per node (commands for it and replies to it).

The bus knows nothing of calls: the server decides what an event or a command means.
"""
