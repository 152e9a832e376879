"""Real-time fan-out behind one interface (no Reflex imports here).

``Hub`` knows which tabs of which users are connected to *this* process, keeps presence, and
publishes events through a ``Bus``: in-process for one worker, Redis pub/sub across workers and
machines. The state layer plugs in how an event reaches one tab (``Hub.attach``).
"""

from chatapp.realtime.hub import Hub, get_hub

__all__ = ["Hub", "get_hub"]
