"""Settings, read from the environment (prefix ``GUANXI_``) and passed down from entry points."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from guanxi.feedback.sla import parse_resolution_hours

DEFAULT_DATABASE_FILE = "guanxi.db"


DEFAULT_OPT_OUT_WORDS = "TD,T,退订,N,unsubscribe,STOP"
"""Replies to a marketing SMS that withdraw consent (GUANXI_SMS_OPT_OUT_WORDS' default)."""


def factory_path(value: str) -> tuple[str, str] | None:
    """'package.module:factory' -> (module, factory); None when it is not of that form."""
    module, sep, factory = (part.strip() for part in value.partition(":"))
    return (module, factory) if sep and module and factory else None


class Settings(BaseSettings):
    """Guanxi's configuration. Every field is listed in docs/settings.md."""

    model_config = SettingsConfigDict(env_prefix="GUANXI_", extra="ignore")

    database_url: str = Field(
        default=f"sqlite:///{DEFAULT_DATABASE_FILE}",
        description=(
            "SQLAlchemy URL of the database. A plain file path is taken as SQLite. "
            "PostgreSQL: postgresql+psycopg://user@host:5432/dbname"
        ),
    )
    timezone: str = Field(
        default="Asia/Shanghai",
        description="Default time zone of stores and of naive timestamps in imported files.",
    )
    sqlite_busy_timeout_s: float = Field(
        default=30.0,
        description="How long a SQLite connection waits for another writer before giving up.",
    )

    session_hours: float = Field(
        default=12.0,
        description="A web sign-in ends this many hours after it began (a shift at the counter).",
    )
    session_idle_minutes: float = Field(
        default=240.0,
        description="A web sign-in ends after this many minutes without a request.",
    )
    cookie_secure: bool = Field(
        default=False,
        description=(
            "Mark cookies Secure (send only over HTTPS). Turn on when Guanxi is served over "
            "HTTPS; shop intranets on plain HTTP need it off."
        ),
    )
    vendor_dir: str = Field(
        default="",
        description=(
            "Folder of the npm packages the web UI serves (htmx, charts); empty: the "
            "node_modules folder of the source checkout, filled by `npm ci` during set-up."
        ),
    )

    erasure_secret: str = Field(
        default="",
        description=(
            "Key for the hash of an erased customer's phone (so a re-import does not bring "
            "back their consent). Erasure is refused until it is set; keep it out of the "
            "database backups."
        ),
    )

    gross_margin: float = Field(
        default=0.35,
        gt=0,
        le=1,
        description=(
            "Share of net sales the shop keeps as gross margin (0.35 = 35 %): customer "
            "lifetime value and retention economics are in margin, not in sales."
        ),
    )
    monthly_discount_rate: float = Field(
        default=0.01,
        ge=0,
        lt=1,
        description=(
            "Monthly rate at which future margin is discounted in lifetime values "
            "(0.01 = about 12.7 % a year)."
        ),
    )

    analytics_thresholds: str = Field(
        default="",
        description=(
            "Path of a TOML file with the shop's own loyalty-ladder and loyalty-type thresholds "
            "([ladder], [loyalty_type]); empty: the documented defaults."
        ),
    )

    shop_name: str = Field(
        default="",
        description=(
            "The shop's name as customers know it: the {{ shop }} variable of messages and "
            "the heading of the public unsubscribe page; empty: the name of the first store."
        ),
    )
    public_url: str = Field(
        default="",
        description=(
            "Base URL at which customers reach this Guanxi (e.g. https://crm.example.cn), "
            "for the unsubscribe links of emails. Marketing email is not sent until it is set."
        ),
    )
    smtp_host: str = Field(
        default="",
        description="SMTP server that sends email; empty: no email is sent (it stays queued).",
    )
    smtp_port: int = Field(default=587, ge=1, le=65535, description="Port of the SMTP server.")
    smtp_username: str = Field(
        default="", description="User name for the SMTP server; empty: no login."
    )
    smtp_password: str = Field(default="", description="Password for the SMTP server.")
    smtp_from: str = Field(
        default="",
        description="Sender address of emails, e.g. 'Tea House <care@example.cn>'.",
    )
    smtp_starttls: bool = Field(
        default=True,
        description="Switch the SMTP connection to TLS (STARTTLS) before logging in.",
    )
    smtp_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description=(
            "Seconds to wait for the SMTP server; an email whose answer does not come in time "
            "is marked 'unknown' and never resent automatically."
        ),
    )
    quiet_hours: str = Field(
        default="21:00-09:00",
        description=(
            "Shop-time hours in which no marketing message is sent, as HH:MM-HH:MM; messages "
            "due then wait for the end of the window. Empty: no quiet hours."
        ),
    )
    marketing_per_week: int = Field(
        default=2,
        ge=1,
        description=(
            "At most this many marketing messages reach one customer in any 7 days, across "
            "campaigns and channels (sent, being sent or of unknown outcome)."
        ),
    )
    send_max_attempts: int = Field(
        default=3,
        ge=1,
        le=20,
        description=(
            "How often a message the provider refused (definitely not delivered) is tried "
            "before it is marked failed; tries are spaced 5, 10, 20… minutes apart."
        ),
    )
    sms_opt_out_text: str = Field(
        default="回复TD退订",
        description=(
            "Text every marketing SMS ends with (how to opt out), e.g. 回复TD退订; it may not "
            "be empty."
        ),
    )
    sms_opt_out_words: str = Field(
        default=DEFAULT_OPT_OUT_WORDS,
        description=(
            "Comma-separated replies that withdraw SMS marketing consent when a file of SMS "
            "replies is recorded (case, spaces and full-width letters do not matter)."
        ),
    )
    sms_gateway: str = Field(
        default="",
        description=(
            "The shop's SMS gateway as 'package.module:factory': the factory gets the settings "
            "and returns an object with send_sms(phone, text). Empty: SMS stay queued for the "
            "CSV export."
        ),
    )
    wechat_gateway: str = Field(
        default="",
        description=(
            "The shop's WeChat gateway as 'package.module:factory': the factory gets the "
            "settings and returns an object with send_wechat(wechat_id, text). Empty: WeChat "
            "messages stay queued for the CSV export."
        ),
    )

    sla_first_response_hours: float = Field(
        default=24.0,
        gt=0,
        le=24 * 366,
        description=(
            "Hours from the opening of a complaint to its first response (the first-response "
            "SLA clock)."
        ),
    )
    sla_resolution_hours: str = Field(
        default="critical:24,high:48,medium:72,low:120",
        description=(
            "Hours from the opening of a complaint to its resolution, per severity, as "
            "severity:hours pairs (all four of critical, high, medium, low)."
        ),
    )
    sla_pause_weekends: bool = Field(
        default=False,
        description=(
            "Stop the complaint SLA clocks on Saturdays and Sundays (in the store's time "
            "zone); off: every hour counts."
        ),
    )
    sla_near_hours: float = Field(
        default=4.0,
        ge=0,
        description=(
            "A complaint clock shows 'near' (and enters the agenda) when at most this many "
            "hours are left, or at most GUANXI_SLA_NEAR_SHARE of its budget, whichever is more."
        ),
    )
    sla_near_share: float = Field(
        default=0.25,
        ge=0,
        lt=1,
        description=(
            "Share of a complaint clock's budget (0.25 = the last quarter) in which it shows "
            "'near'; see GUANXI_SLA_NEAR_HOURS."
        ),
    )

    @field_validator("sla_resolution_hours")
    @classmethod
    def _check_resolution_hours(cls, value: str) -> str:
        parse_resolution_hours(value)
        return value.strip()

    @field_validator("sms_opt_out_text")
    @classmethod
    def _check_opt_out_text(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError(
                "GUANXI_SMS_OPT_OUT_TEXT is empty (found ''): every marketing SMS must say how "
                "to opt out; set it to e.g. 回复TD退订 or leave it unset"
            )
        return value

    @field_validator("sms_opt_out_words")
    @classmethod
    def _check_opt_out_words(cls, value: str) -> str:
        from guanxi.care.opt_outs import parse_words  # the comparison the replies get

        if not parse_words(value):
            raise ValueError(
                f"GUANXI_SMS_OPT_OUT_WORDS lists no word (found {value!r}): give "
                "comma-separated replies such as TD,退订,STOP or leave it unset"
            )
        return value

    @field_validator("sms_gateway", "wechat_gateway")
    @classmethod
    def _check_gateway_path(cls, value: str) -> str:
        value = value.strip()
        if value and factory_path(value) is None:
            raise ValueError(
                f"a gateway must be given as 'package.module:factory' (found {value!r}), "
                "e.g. GUANXI_SMS_GATEWAY=shop_sms.aliyun:make_gateway"
            )
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _check_quiet_hours(cls, value: str) -> str:
        value = value.strip()
        if value:
            parse_quiet_hours(value)
        return value

    @field_validator("database_url")
    @classmethod
    def _normalise_url(cls, value: str) -> str:
        return normalise_database_url(value)

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"GUANXI_TIMEZONE must be an IANA zone such as Asia/Shanghai (found {value!r})"
            ) from exc
        return value


def parse_quiet_hours(value: str) -> tuple[time, time] | None:
    """'21:00-09:00' -> (21:00, 09:00); '' -> None. ValueError with the way out otherwise."""
    value = value.strip()
    if not value:
        return None
    try:
        start, end = (time.fromisoformat(part.strip()) for part in value.split("-"))
    except ValueError as exc:
        raise ValueError(
            f"GUANXI_QUIET_HOURS must look like 21:00-09:00 (found {value!r})"
        ) from exc
    if start == end:
        raise ValueError(f"GUANXI_QUIET_HOURS starts and ends at the same time ({value!r})")
    return start, end


def normalise_database_url(value: str) -> str:
    """Accept a bare file path or a URL; prefer the psycopg 3 driver for PostgreSQL."""
    value = value.strip()
    if not value:
        raise ValueError("GUANXI_DATABASE_URL is empty: give a SQLite file path or a URL")
    if "://" not in value:
        return f"sqlite:///{Path(value).expanduser()}"
    for prefix in ("postgres://", "postgresql://"):
        if value.startswith(prefix):
            return "postgresql+psycopg://" + value[len(prefix) :]
    return value
