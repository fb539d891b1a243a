"""The outbound pipeline: from an event to every member's socket, recorded once.

Read top to bottom:

- :mod:`.sending`: ``broadcast()`` from anywhere: encode once, hand to the channel layer once;
- :mod:`.hub`: per process, per layer: group memberships that heal themselves, one receive of
  each broadcast, handed to every local member;
- :mod:`.connection`: one WebSocket: encode once per encoding, batch or frame, hand to the outbox,
  record the stats once;
- :mod:`.outbox`: the write, which never waits on a slow socket for the hub;
- :mod:`.drops`: every message not delivered, counted and logged;
- :mod:`.resilience`: reading a channel layer through its outages.
"""
