"""Settings read from the environment (prefix ``REPLYX_``)."""

from __future__ import annotations

import ipaddress
import secrets
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything that can be configured; built once per process, never imported as a global."""

    model_config = SettingsConfigDict(env_prefix="REPLYX_", extra="ignore")

    data_dir: Path = Path("data")
    database_url: str = ""
    broker_url: str = "memory://"
    secret_key: str = ""
    public_url: str = ""
    trusted_proxies: str = ""
    node_id: str = ""

    ws_ping_interval: float = 25.0
    ws_pong_timeout: float = 20.0
    # 64 KiB covers the longest allowed text (4,000 chars, up to 4 bytes each) with room for JSON.
    ws_max_frame_bytes: int = 65536
    # Events queued for one socket before it counts as a slow consumer and is closed.
    ws_send_queue: int = 1000
    # uvicorn's WebSocket implementation: "replyx" is websockets-sansio that also takes frames built
    # once per event (realtime/wsserver.py); the others are uvicorn's own, kept for comparison.
    ws_impl: str = Field(default="replyx", pattern="^(replyx|websockets-sansio|websockets|wsproto)$")
    # Off: for chat-sized events it cost throughput and memory per socket and saved few bytes
    # (figures in docs/performance.md); browsers then simply talk uncompressed.
    ws_per_message_deflate: bool = False
    max_connections: int = 20000
    max_sockets_per_dialog: int = 50
    max_sockets_per_ip: int = 500
    # Sockets one client address may open per connect_window seconds: a visitor's tabs reconnecting
    # after a restart stay far below it; a connect flood is refused with 4008 before any database work.
    max_connects_per_ip: int = 100
    connect_window: float = 5.0

    # Request bodies (JSON) above this are refused with 413 before they are read.
    max_body_bytes: int = 256 * 1024
    max_message_length: int = 4000
    visitor_rate_limit: int = 20
    operator_rate_limit: int = 100
    rate_limit_window: float = 10.0
    # What one visitor address may do (docs/security.md). Generous for an office behind one address;
    # tight enough that one machine cannot bury real visitors or run up a model's bill.
    visitor_address_rate_limit: int = 40  # messages per rate_limit_window, across all its dialogs
    dialogs_per_address: int = 20  # new dialogs per hour
    dialogs_per_assistant: int = 1000  # new dialogs per hour, whatever their addresses
    handoffs_per_address: int = 5  # requests for a human per hour
    socket_frames_limit: int = 30  # typing and read frames per rate_limit_window, per socket
    # Failed logins before each further one must wait (doubling from 1 s): per account, per address.
    login_failures_per_account: int = 5
    login_failures_per_address: int = 20

    jwt_expire_minutes: int = 60 * 12
    # The OpenAPI schema at /openapi.json: off unless asked for (it maps every route for a visitor).
    api_docs: bool = False
    # Addresses and networks that may read /metrics (comma-separated); others get 404.
    metrics_allow: str = "127.0.0.1,::1"
    log_level: str = "INFO"
    log_format: str = Field(default="text", pattern="^(text|json)$")

    llm_base_url: str = ""
    llm_api_key: str = ""
    llm_model: str = ""
    # Seconds the model may stay silent (connect, first token, between tokens) before the
    # visitor gets the fallback and a human; long enough for a cold local model to load.
    llm_timeout: float = 30.0
    # The longest one answer may take however steadily it streams, so a runaway never holds a dialog.
    llm_total_timeout: float = 120.0
    # Dialog messages the model sees: enough for follow-up questions, few enough to stay cheap.
    llm_history: int = 12

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def effective_database_url(self) -> str:
        """The configured database, or an SQLite file in the data directory."""
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'replyx.db'}"

    @property
    def trusted_proxy_list(self) -> list[str]:
        """Addresses whose ``X-Forwarded-*`` headers are believed."""
        return [p.strip() for p in self.trusted_proxies.split(",") if p.strip()]

    def metrics_allowed(self, address: str) -> bool:
        """Whether /metrics answers a client at this address."""
        try:
            client = ipaddress.ip_address(address)
        except ValueError:
            return False
        networks = (ipaddress.ip_network(n.strip(), strict=False) for n in self.metrics_allow.split(",") if n.strip())
        return any(client in network for network in networks)

    @property
    def uses_memory_broker(self) -> bool:
        """True when fan-out stays inside this process."""
        return self.broker_url.startswith("memory://")


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment, creating the data directory and secret key."""
    settings = Settings(**overrides)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if not settings.secret_key:
        settings.secret_key = _persistent_secret(settings.data_dir / "secret_key")
    return settings


def _persistent_secret(path: Path) -> str:
    # Kept on disk so tokens survive restarts and every worker signs with the same key.
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key
