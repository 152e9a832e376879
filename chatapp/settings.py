"""The one place that reads the environment.

Every other module asks :func:`get_settings` for configuration. Embedded defaults (SQLite file,
local media folder, one worker, a JWT secret generated once into a git-ignored file) make the
app run on a fresh machine; production mode refuses to start with a weak or default secret.
"""

from __future__ import annotations

import re
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
_DEV_SECRET_FILE = PROJECT_ROOT / ".jwt_secret"
_DEV_VAPID_FILE = PROJECT_ROOT / ".vapid_private_key"
MIN_SECRET_BYTES = 32
# Where browsers' push services live (Chrome and its kin, Firefox, Edge, Safari): a push
# subscription's endpoint must be on one of them, so that nobody can make the server POST to
# an address of their choosing.
DEFAULT_PUSH_HOSTS = (
    "fcm.googleapis.com,*.push.services.mozilla.com,*.notify.windows.com,*.push.apple.com"
)


def _dev_secret() -> str:
    """Return the development JWT secret, generating it once into a git-ignored file."""
    try:
        value = _DEV_SECRET_FILE.read_text().strip()
        if len(value) >= MIN_SECRET_BYTES:
            return value
    except FileNotFoundError:
        pass
    value = secrets.token_urlsafe(48)
    _DEV_SECRET_FILE.write_text(value + "\n")
    _DEV_SECRET_FILE.chmod(0o600)
    return value


def new_vapid_key() -> str:
    """A new VAPID private key: a P-256 key as the base64url of its raw 32 bytes (the form
    `web-push generate-vapid-keys` prints and VAPID_PRIVATE_KEY takes)."""
    import base64

    from cryptography.hazmat.primitives.asymmetric import ec

    value = ec.generate_private_key(ec.SECP256R1()).private_numbers().private_value
    return base64.urlsafe_b64encode(value.to_bytes(32, "big")).rstrip(b"=").decode()


def _dev_vapid_key() -> str:
    """The development VAPID key, generated once into a git-ignored file (like the JWT
    secret): browsers' push subscriptions are bound to it, so it must not change."""
    try:
        value = _DEV_VAPID_FILE.read_text().strip()
        if value:
            return value
    except FileNotFoundError:
        pass
    value = new_vapid_key()
    _DEV_VAPID_FILE.write_text(value + "\n")
    _DEV_VAPID_FILE.chmod(0o600)
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    # "development" (default) or "production". Production demands a strong JWT secret and
    # marks the session cookie Secure.
    app_env: Literal["development", "production"] = "development"
    database_url: str = f"sqlite:///{PROJECT_ROOT / 'chatapp.db'}"
    jwt_secret: str = ""
    session_lifetime_hours: int = Field(default=24 * 7, ge=1, le=24 * 365)
    # How often an open tab re-checks that its session has not been revoked.
    session_recheck_seconds: float = Field(default=30.0, ge=0.5, le=3600)
    cloudinary_url: str = ""
    redis_url: str = ""
    media_dir: Path = PROJECT_ROOT / "media"
    bcrypt_rounds: int = Field(default=12, ge=4, le=16)
    # Log-in throttling: this many failures per account within the window lock it for the window.
    login_max_failures: int = Field(default=5, ge=1)
    login_lockout_minutes: int = Field(default=15, ge=1)
    session_cookie_name: str = "chatapp_session"
    # Abuse limits (SECURITY.md). Every count is per client address unless it says otherwise;
    # kept in Redis when REDIS_URL is set, so all workers and processes share them.
    # Log-in and sign-up attempts per address per minute, refused before any bcrypt work.
    auth_attempts_per_minute: int = Field(default=10, ge=1)
    # Failed log-ins from one address (any accounts) within LOGIN_LOCKOUT_MINUTES that lock
    # that address out of logging in for the window: password spraying.
    login_address_max_failures: int = Field(default=20, ge=1)
    # Accounts one address may try to create per hour.
    signups_per_address_per_hour: int = Field(default=10, ge=1)
    # Messages one user may send: a burst of SEND_BURST within SEND_BURST_SECONDS, and at most
    # SENDS_PER_MINUTE in any minute (a person typing fast stays far below both).
    send_burst: int = Field(default=30, ge=1)
    send_burst_seconds: int = Field(default=10, ge=1)
    sends_per_minute: int = Field(default=120, ge=1)
    # A send waits this long for its commit before the pending bubble goes out: a quick commit
    # then costs the sender's tab one update instead of two (pending, then sent). 0 = pending
    # at once. While waiting nothing has reached the browser, so a crash in that window loses
    # the message (DESIGN/RESULTS: D1).
    send_commit_wait_ms: int = Field(default=0, ge=0, le=200)
    # Password hashing (bcrypt) runs in its own small pool, never in the database pool:
    # this many threads, and at most HASH_QUEUE_MAX log-ins, sign-ups and password changes
    # under way per worker ("busy, try again in a moment" beyond: ~2 s of work at cost 12).
    hash_workers: int = Field(default=1, ge=1, le=16)
    hash_queue_max: int = Field(default=8, ge=1)
    # Image uploads: images decoded at once per worker and the memory they may use together
    # (MB; a job that does not fit waits), uploads per user per hour, and the stored bytes one
    # user may own (MB); uploads never attached to a message are deleted after
    # ORPHAN_UPLOAD_GRACE_HOURS.
    image_workers: int = Field(default=2, ge=1, le=16)
    image_memory_mb: int = Field(default=200, ge=64)
    uploads_per_hour: int = Field(default=60, ge=1)
    media_quota_mb: int = Field(default=500, ge=1)
    orphan_upload_grace_hours: int = Field(default=24, ge=1)
    # How often each worker purges orphan uploads and expired log-in sessions.
    housekeeping_minutes: int = Field(default=60, ge=1)
    # Lifetime of a signed Cloudinary URL for a private chat image.
    signed_url_seconds: int = Field(default=300, ge=10, le=86400)
    # Origins (scheme://host[:port], comma-separated) allowed to call the HTTP routes and
    # open the websocket. Empty: only the origin the app is served from (the request's own
    # Host). Set it when the app sits behind a proxy under another name.
    allowed_origins: str = ""
    # The ASGI server Reflex runs in production. uvicorn (through gunicorn) holds ~120 KB per
    # connected tab against granian's ~230 KB and kept a higher message rate on our benchmark
    # (bench/RESULTS.md); granian stays available.
    server: Literal["uvicorn", "granian"] = "uvicorn"
    # Backend worker processes; more than one needs REDIS_URL (default: 1, or 2 with Redis).
    workers: int = Field(default=0, ge=0, le=64)
    # Operations (chatapp/observability/). /healthz: how long the database and Redis checks
    # may take before they count as down.
    health_timeout_seconds: float = Field(default=2.0, gt=0, le=30)
    # /metrics serves Prometheus text: totals and latency histograms only, nothing about any
    # user; METRICS_ENABLED=false answers it with 404.
    metrics_enabled: bool = True
    # Where prometheus_client keeps each worker's values when several workers run (read by
    # prometheus_client itself, from the environment). Empty: rxconfig.py makes a fresh folder
    # per start (WORKERS > 1).
    prometheus_multiproc_dir: str = ""
    # Level of the app's and the server's loggers. Production writes one JSON object per line.
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # On SIGTERM, how long a worker waits for event handlers still running (a send between its
    # pending bubble and its commit) after the server closed the websockets. Keep it below
    # gunicorn's --graceful-timeout (30 s) and the orchestrator's termination grace period.
    shutdown_grace_seconds: float = Field(default=10.0, ge=0, le=120)
    # Web Push (services/push.py). The server's VAPID key: base64url of a raw P-256 private key
    # (or a PEM). Generated once into .vapid_private_key in development when not set; in
    # production Web Push is off until it is set (every worker and machine must share one key:
    # browsers' subscriptions are bound to it). VAPID_SUBJECT: a mailto: or https: contact
    # for the push services. PUSH_SERVICE_HOSTS: the hosts a subscription's https endpoint may
    # name ("*.example.com" for subdomains), or exact origins such as http://127.0.0.1:9000.
    vapid_private_key: str = ""
    vapid_subject: str = "mailto:admin@localhost"
    push_service_hosts: str = DEFAULT_PUSH_HOSTS

    @property
    def allowed_origin_list(self) -> tuple[str, ...]:
        """ALLOWED_ORIGINS normalised: lower-case, no trailing slash, no duplicates."""
        seen: list[str] = []
        for raw in self.allowed_origins.split(","):
            origin = raw.strip().rstrip("/").lower()
            if origin and origin not in seen:
                seen.append(origin)
        return tuple(seen)

    @property
    def worker_count(self) -> int:
        return self.workers or (2 if self.redis_url else 1)

    @field_validator("allowed_origins")
    @classmethod
    def _origins_are_origins(cls, value: str) -> str:
        for raw in value.split(","):
            origin = raw.strip().rstrip("/")
            if origin and not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+", origin):
                raise ValueError(
                    f"ALLOWED_ORIGINS: {origin!r} is not an origin like https://chat.example.com"
                )
        return value

    @field_validator("vapid_subject")
    @classmethod
    def _vapid_subject_is_a_contact(cls, value: str) -> str:
        if not re.fullmatch(r"(mailto:[^\s@]+@[^\s@]+|https://\S+)", value):
            raise ValueError("VAPID_SUBJECT must be a mailto: address or an https: URL")
        return value

    @property
    def web_push_enabled(self) -> bool:
        return bool(self.vapid_private_key)

    @field_validator("database_url")
    @classmethod
    def _mysql_needs_utf8mb4(cls, value: str) -> str:
        # MySQL's "utf8" is 3-byte and loses emoji; make utf8mb4 the only option.
        if value.startswith("mysql") and "charset=" not in value:
            value += ("&" if "?" in value else "?") + "charset=utf8mb4"
        return value

    @model_validator(mode="after")
    def _secret(self) -> Settings:
        if self.app_env == "production":
            if len(self.jwt_secret.encode()) < MIN_SECRET_BYTES or self.jwt_secret in {
                "changeme",
                "secret",
            }:
                raise ValueError(
                    "JWT_SECRET must be set to a random value of at least "
                    f"{MIN_SECRET_BYTES} bytes in production (APP_ENV=production)"
                )
        elif not self.jwt_secret:
            self.jwt_secret = _dev_secret()
        if not self.vapid_private_key and not self.is_production:
            self.vapid_private_key = _dev_vapid_key()
        return self

    @property
    def is_production(self) -> bool:
        return self.app_env == "production"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
