"""Environment shared by the benchmark process and the servers it starts.

chatapp reads its settings once (``get_settings`` is cached), so call :func:`prepare` before
anything asks for them. The benchmark signs session cookies itself: it and the server must use
the same JWT secret.
"""

from __future__ import annotations

import os
import secrets

BCRYPT_ROUNDS = "4"  # users are made by the thousand; cost 12 would take minutes


def prepare(*, own_server: bool) -> str:
    """Fix JWT_SECRET and BCRYPT_ROUNDS for this process; returns the secret (or "" when an
    external server's secret comes from the environment or the project's .jwt_secret file)."""
    os.environ["BCRYPT_ROUNDS"] = BCRYPT_ROUNDS
    if own_server and not os.environ.get("JWT_SECRET"):
        os.environ["JWT_SECRET"] = secrets.token_urlsafe(48)
    return os.environ.get("JWT_SECRET", "")
