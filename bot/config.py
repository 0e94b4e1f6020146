"""Settings from the environment and `.env` (CONTRACT §2), read by the app factory only."""

from __future__ import annotations

from urllib.parse import urlparse

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigError(Exception):
    """A setting the chosen mode needs is missing or malformed; the message names the variable."""


def _parse_ids(value: object) -> list[int]:
    if value is None or value == "":
        return []
    if isinstance(value, int):
        return [value]
    if isinstance(value, list | tuple):
        return [int(v) for v in value]
    return [int(part) for part in str(value).split(",") if part.strip()]


class Config(BaseSettings):
    """Every variable of CONTRACT §2. Secrets are never printed (see `__repr_args__`)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    database_url: str = Field("sqlite://data/dispatch.sqlite3", alias="DATABASE_URL")
    http_host: str = Field("127.0.0.1", alias="HTTP_HOST")
    http_port: int = Field(8080, alias="HTTP_PORT", ge=0, le=65535)
    public_url: str | None = Field(None, alias="PUBLIC_URL")
    api_token: str | None = Field(None, alias="API_TOKEN")
    telegram_bot_token: str | None = Field(None, alias="TELEGRAM_BOT_TOKEN")
    telegram_api_base_url: str = Field(
        "https://api.telegram.org/bot", alias="TELEGRAM_API_BASE_URL"
    )
    telegram_webhook_secret: str | None = Field(None, alias="TELEGRAM_WEBHOOK_SECRET")
    # A str here: pydantic-settings would try to JSON-decode a list-typed env var.
    telegram_admin_ids_raw: str = Field("", alias="TELEGRAM_ADMIN_IDS")
    # Job requests with `allow_paid_broadcast` (Telegram Stars), paced up to 1,000 a second.
    telegram_paid_broadcast: bool = Field(False, alias="TELEGRAM_PAID_BROADCAST")
    twilio_account_sid: str | None = Field(None, alias="TWILIO_ACCOUNT_SID")
    twilio_auth_token: str | None = Field(None, alias="TWILIO_AUTH_TOKEN")
    twilio_from_number: str | None = Field(None, alias="TWILIO_FROM_NUMBER")
    twilio_api_base_url: str = Field("https://api.twilio.com", alias="TWILIO_API_BASE_URL")
    smtp_url: str | None = Field(None, alias="SMTP_URL")
    smtp_from: str | None = Field(None, alias="SMTP_FROM")
    link_secret: str | None = Field(None, alias="LINK_SECRET")
    timezone: str = Field("UTC", alias="TIMEZONE")
    # Test tuning (README "Configuration"): the defaults are Telegram's limit of one message a
    # second per chat and the regular sweep every 5 s. Test harnesses against the Bot API emulator
    # shorten them; against api.telegram.org a shorter chat interval only earns 429s.
    telegram_chat_interval_s: float = Field(1.0, alias="TELEGRAM_CHAT_INTERVAL_S", ge=0, le=60)
    sweep_interval_s: float = Field(5.0, alias="SWEEP_INTERVAL_S", ge=0.1, le=3600)

    @field_validator(
        "public_url",
        "api_token",
        "telegram_bot_token",
        "telegram_webhook_secret",
        "twilio_account_sid",
        "twilio_auth_token",
        "twilio_from_number",
        "smtp_url",
        "smtp_from",
        "link_secret",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    def __repr_args__(self):  # type: ignore[no-untyped-def]
        secret = {
            "api_token",
            "telegram_bot_token",
            "telegram_webhook_secret",
            "twilio_auth_token",
            "smtp_url",
            "link_secret",
        }
        for key, value in super().__repr_args__():
            yield key, ("***" if key in secret and value else value)

    @property
    def telegram_admin_ids(self) -> list[int]:
        """TELEGRAM_ADMIN_IDS as integers."""
        return _parse_ids(self.telegram_admin_ids_raw)

    @property
    def telegram_enabled(self) -> bool:
        """The Telegram channel is on when a bot token is set."""
        return bool(self.telegram_bot_token)

    @property
    def sms_enabled(self) -> bool:
        """The SMS channel is on when all three Twilio settings are set."""
        return bool(self.twilio_account_sid and self.twilio_auth_token and self.twilio_from_number)

    @property
    def email_enabled(self) -> bool:
        """The email channel is on when SMTP_URL is set."""
        return bool(self.smtp_url)

    @property
    def link_secret_value(self) -> str | None:
        """The secret email links are signed under: LINK_SECRET, else API_TOKEN or the webhook's."""
        return self.link_secret or self.api_token or self.telegram_webhook_secret

    @property
    def email_requests_enabled(self) -> bool:
        """Fieldworkers get job requests by email: SMTP is on and links can be signed."""
        return self.email_enabled and self.link_secret_value is not None

    @property
    def link_base_url(self) -> str:
        """Where `/r/{token}` links point: PUBLIC_URL, else this server's own address."""
        return self.public_url or f"http://{self.http_host}:{self.http_port}"

    @property
    def smtp_sender(self) -> str:
        """SMTP_FROM, else `dispatch@` the host of PUBLIC_URL (or `localhost`)."""
        if self.smtp_from:
            return self.smtp_from
        host = urlparse(self.public_url).hostname if self.public_url else None
        return f"dispatch@{host or 'localhost'}"

    def _check_smtp(self) -> None:
        """SMTP_URL and SMTP_FROM, when set, must be usable."""
        if self.smtp_url is not None:
            smtp = urlparse(self.smtp_url)
            if smtp.scheme not in ("smtp", "smtps") or not smtp.hostname:
                raise ConfigError("SMTP_URL: expected smtp://user:pass@host:port or smtps://...")
            try:
                smtp.port  # noqa: B018 - raises on a port that is not a number
            except ValueError as exc:
                raise ConfigError("SMTP_URL: the port is not a number") from exc
        if self.smtp_from is not None and "@" not in self.smtp_from:
            raise ConfigError("SMTP_FROM: expected an email address")

    def _check_database(self) -> None:
        if not (
            self.database_url.startswith(
                ("sqlite:", "postgres:", "postgresql:", "psycopg:", "asyncpg:")
            )
        ):
            raise ConfigError("DATABASE_URL: expected sqlite://PATH or postgres://USER@HOST/DB")
        if self.database_url.startswith("sqlite:"):
            from models.db import sqlite_too_old

            if (why := sqlite_too_old()) is not None:
                raise ConfigError(f"DATABASE_URL: {why}")

    def check_for_run(self) -> None:
        """Raise ConfigError naming the first variable `run` needs that is missing or malformed."""
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"TIMEZONE: unknown time zone {self.timezone!r}") from exc
        try:
            _parse_ids(self.telegram_admin_ids_raw)
        except ValueError as exc:
            raise ConfigError(
                "TELEGRAM_ADMIN_IDS: expected comma-separated Telegram user ids"
            ) from exc
        self._check_database()
        for name, url in (
            ("PUBLIC_URL", self.public_url),
            ("TELEGRAM_API_BASE_URL", self.telegram_api_base_url),
            ("TWILIO_API_BASE_URL", self.twilio_api_base_url),
        ):
            if url is not None:
                parsed = urlparse(url)
                if parsed.scheme not in ("http", "https") or not parsed.netloc:
                    raise ConfigError(f"{name}: expected an http(s) URL")
        self._check_smtp()
        if self.public_url and self.telegram_enabled and not self.telegram_webhook_secret:
            raise ConfigError("TELEGRAM_WEBHOOK_SECRET: required when PUBLIC_URL is set")
        if self.telegram_webhook_secret and not all(
            c.isalnum() or c in "_-" for c in self.telegram_webhook_secret
        ):
            raise ConfigError(
                "TELEGRAM_WEBHOOK_SECRET: only letters, digits, _ and - (Telegram's rule)"
            )
        twilio = [self.twilio_account_sid, self.twilio_auth_token, self.twilio_from_number]
        if any(twilio) and not all(twilio):
            missing = [
                n
                for n, v in zip(
                    ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER"),
                    twilio,
                    strict=True,
                )
                if not v
            ]
            raise ConfigError(f"{missing[0]}: required when any TWILIO_ setting is set")


def load_config(**overrides: object) -> Config:
    """Read the configuration; a malformed value raises ConfigError naming its variable."""
    try:
        return Config(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = str(first["loc"][0]) if first["loc"] else "configuration"
        field = Config.model_fields.get(loc)
        name = field.alias if field and field.alias else loc.upper()
        raise ConfigError(f"{name}: {first['msg']}") from None
