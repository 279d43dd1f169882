"""CollaFuse on Flower: the same client and server roles, moved between processes by Flower messages.

* :mod:`.client_app` — a ``ClientApp`` whose ``train`` handler runs K local CollaFuse steps of a
  :class:`~trustgen.collab.roles.CollabClient` and whose ``query`` handler finishes generation.
* :mod:`.server_app` — a ``ServerApp`` whose main loop drives the
  :class:`~trustgen.collab.roles.CollabServer` through :class:`.engine.FlowerEngine`.
* :mod:`.records` — payloads as ``ArrayRecord``s (with round id and client id) and message byte counts.
* :mod:`.node_state` — a client's model, optimiser and RNG state in ``context.state`` and on disk.
* :mod:`.simulation` — ``trustgen collab simulate`` (Flower's Ray simulation engine).
* :mod:`.deploy`, :mod:`.certs` — SuperLink/SuperNode processes, TLS certificates, node keys.

The protocol itself (what a step does, what is validated) lives in the roles; these modules only
move its payloads.
"""
