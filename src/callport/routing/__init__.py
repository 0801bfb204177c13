"""Outbound routing: carriers, rate tables, least-cost ranking with failover, carrier health
(circuit breakers) and outbound rules (do-not-call, calling hours, calls per second).

Pure modules: ``rates`` (rate tables, CSV), ``causes`` (which failures fail over), ``health``
(breakers in simulated time), ``rules`` (DNC, hours, CPS), ``zones`` (number -> time zone),
``rank`` (the ranked choices). ``router`` is the async ``Router``: itself a dialer that tries
the ranked carriers in order.
"""
