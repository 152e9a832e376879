"""Private MariaDB and Redis servers for fault tests: they get stopped, killed and restarted,
so they are never the shared ones on the standard ports. (Shared with the benchmark's fault
runner: bench/instances.py.)"""

from bench.instances import OwnMariaDB, OwnRedis, free_port

__all__ = ["OwnMariaDB", "OwnRedis", "free_port"]
