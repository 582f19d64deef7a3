"""Delivery channels of the outbox: real SMTP email, and adapter interfaces for SMS and WeChat.

A channel sends one ``Outgoing`` message and returns the provider's id (or None). It raises
``DeliveryFailed`` only when the message was *definitely not* delivered (the server refused it,
or the connection failed before anything was handed over): the outbox may try such a message
again later. Any other exception means the outcome is unknown (e.g. a timeout after the text
was sent): the outbox marks the message ``unknown`` and never resends it automatically.

No SMS or WeChat provider is bundled: a shop plugs its gateway in through ``SmsGateway`` /
``WeChatGateway`` (``SmsChannel`` / ``WeChatChannel`` adapt them), named in the settings as
``package.module:factory`` (``GUANXI_SMS_GATEWAY``, ``GUANXI_WECHAT_GATEWAY``), or exports the
messages as a CSV for its platform (``guanxi.care.outbox.export_csv``).
"""

from __future__ import annotations

import contextlib
import importlib
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Protocol, runtime_checkable

from guanxi.config import Settings, factory_path
from guanxi.errors import ConfigError


class DeliveryFailed(Exception):
    """The provider says the message was not sent (so trying again cannot duplicate it)."""


@dataclass(frozen=True)
class Outgoing:
    """One message ready for a channel: the address (read from the customer at send time),
    the final text (opt-out text and unsubscribe link already in), and the link for the
    List-Unsubscribe header of a marketing email."""

    message_id: int
    customer_id: int
    channel: str
    to: str
    subject: str | None
    body: str
    is_marketing: bool = True
    unsubscribe_url: str | None = None


@runtime_checkable
class Channel(Protocol):
    """Sends one message; returns the provider's message id, or None when it gives none."""

    name: str

    def send(self, message: Outgoing) -> str | None: ...


Channels = Mapping[str, Channel]


class SmtpEmail:
    """Email over SMTP (smtplib): plain-text UTF-8 body; marketing emails carry the
    ``List-Unsubscribe`` and ``List-Unsubscribe-Post`` (one-click, RFC 8058) headers.

    The connection is opened on the first message and reused; ``close()`` ends it.
    """

    name = "email"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        username: str = "",
        password: str = "",
        starttls: bool = True,
        timeout: float = 30.0,
    ) -> None:
        if not host or not sender:
            raise ConfigError("email needs GUANXI_SMTP_HOST and GUANXI_SMTP_FROM")
        self.host, self.port, self.sender = host, port, sender
        self.username, self.password = username, password
        self.starttls, self.timeout = starttls, timeout
        self._smtp: smtplib.SMTP | None = None
        domain = parseaddr(sender)[1].rpartition("@")[2]
        self._domain = domain or "localhost"

    def build(self, message: Outgoing) -> EmailMessage:
        """The email of one message (headers and plain-text body)."""
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = message.to
        mail["Subject"] = " ".join((message.subject or "").split())  # one line, always
        mail["Date"] = formatdate(localtime=False, usegmt=True)
        mail["Message-ID"] = make_msgid(idstring=f"guanxi.{message.message_id}",
                                        domain=self._domain)  # fmt: skip
        if message.is_marketing:
            mail["Precedence"] = "bulk"
            if message.unsubscribe_url:
                mail["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
                mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        mail.set_content(message.body, subtype="plain", charset="utf-8")
        return mail

    def _connection(self) -> smtplib.SMTP:
        """An open, greeted (and logged-in) connection; DeliveryFailed when none can be had."""
        if self._smtp is not None:
            try:
                if self._smtp.noop()[0] == 250:
                    return self._smtp
            except (smtplib.SMTPException, OSError):
                pass
            self.close()
        smtp: smtplib.SMTP | None = None
        try:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            smtp.ehlo()
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if self.username:
                smtp.login(self.username, self.password)
        except (smtplib.SMTPException, OSError) as exc:
            if smtp is not None:
                _quietly_close(smtp)
            raise DeliveryFailed(f"cannot reach the SMTP server {self.host}:{self.port}: "
                                 f"{exc}") from exc  # fmt: skip
        self._smtp = smtp
        return smtp

    def send(self, message: Outgoing) -> str | None:
        try:
            mail = self.build(message)
        except (ValueError, TypeError) as exc:  # e.g. a malformed address: nothing was sent
            raise DeliveryFailed(f"the email cannot be built: {exc}") from exc
        smtp = self._connection()
        try:
            smtp.send_message(mail, from_addr=parseaddr(self.sender)[1], to_addrs=[message.to])
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
            raise DeliveryFailed(f"the SMTP server refused the message: {exc}") from exc
        except smtplib.SMTPDataError as exc:
            # The server answered the text with an error code: it did not take the message.
            raise DeliveryFailed(f"the SMTP server refused the message: {exc.smtp_code} "
                                 f"{exc.smtp_error!r}") from exc  # fmt: skip
        except BaseException:
            # Timeout or disconnection while the text was going out: the outcome is unknown.
            self._drop()
            raise
        return str(mail["Message-ID"])

    def _drop(self) -> None:
        if self._smtp is not None:
            smtp, self._smtp = self._smtp, None
            with contextlib.suppress(OSError):
                smtp.close()

    def close(self) -> None:
        """Say goodbye to the server (if connected)."""
        if self._smtp is not None:
            smtp, self._smtp = self._smtp, None
            _quietly_close(smtp)


def _quietly_close(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        with contextlib.suppress(OSError):
            smtp.close()


@runtime_checkable
class SmsGateway(Protocol):
    """A shop's SMS provider: sends ``text`` to a phone (E.164) and returns its message id.

    Raise ``DeliveryFailed`` only when the provider definitely did not accept the message.
    """

    def send_sms(self, phone: str, text: str) -> str | None: ...


@runtime_checkable
class WeChatGateway(Protocol):
    """A shop's WeChat provider (e.g. a service account's customer-service or subscription
    message API): sends ``text`` to a WeChat id and returns its message id."""

    def send_wechat(self, wechat_id: str, text: str) -> str | None: ...


def _close_gateway(gateway: object) -> None:
    close = getattr(gateway, "close", None)
    if callable(close):
        close()


class SmsChannel:
    """The outbox channel over an ``SmsGateway``."""

    name = "sms"

    def __init__(self, gateway: SmsGateway) -> None:
        self.gateway = gateway

    def send(self, message: Outgoing) -> str | None:
        return self.gateway.send_sms(message.to, message.body)

    def close(self) -> None:
        """Close the gateway's connection, when it has a ``close()``."""
        _close_gateway(self.gateway)


class WeChatChannel:
    """The outbox channel over a ``WeChatGateway``."""

    name = "wechat"

    def __init__(self, gateway: WeChatGateway) -> None:
        self.gateway = gateway

    def send(self, message: Outgoing) -> str | None:
        return self.gateway.send_wechat(message.to, message.body)

    def close(self) -> None:
        """Close the gateway's connection, when it has a ``close()``."""
        _close_gateway(self.gateway)


def load_gateway(path: str, settings: Settings, *, setting: str) -> object:
    """Call the factory named by ``path`` ('package.module:factory') with the settings.

    Raises ConfigError (naming ``setting``, what was found and the way out) when the module
    cannot be imported or has no such callable.
    """
    parts = factory_path(path)
    if parts is None:
        raise ConfigError(f"{setting} must look like 'package.module:factory' (found {path!r})")
    module_name, attribute = parts
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"{setting}={path!r}: cannot import {module_name!r} ({exc}); install the gateway's "
            "package in Guanxi's environment or correct the module path"
        ) from exc
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise ConfigError(
            f"{setting}={path!r}: module {module_name!r} has no callable {attribute!r}; "
            "name the function that builds the gateway after the colon"
        )
    return factory(settings)


def _gateway_channel(path: str, settings: Settings, *, setting: str, kind: str) -> Channel:
    gateway = load_gateway(path, settings, setting=setting)
    if kind == "sms" and isinstance(gateway, SmsGateway):
        return SmsChannel(gateway)
    if kind == "wechat" and isinstance(gateway, WeChatGateway):
        return WeChatChannel(gateway)
    method = "send_sms(phone, text)" if kind == "sms" else "send_wechat(wechat_id, text)"
    raise ConfigError(
        f"{setting}={path!r} returned {type(gateway).__name__!r}, which has no {method} "
        "method; the factory must return the gateway object"
    )


def channels_from_settings(settings: Settings) -> dict[str, Channel]:
    """The channels the settings configure: email when ``GUANXI_SMTP_HOST`` is set, SMS and
    WeChat when ``GUANXI_SMS_GATEWAY`` / ``GUANXI_WECHAT_GATEWAY`` name a gateway factory.

    Without a gateway, SMS and WeChat messages stay queued for the CSV exports.
    """
    out: dict[str, Channel] = {}
    if settings.smtp_host:
        if not settings.smtp_from:
            raise ConfigError(
                "GUANXI_SMTP_HOST is set but GUANXI_SMTP_FROM is empty: "
                "give the sender address, e.g. 'Tea House <care@example.cn>'"
            )
        out["email"] = SmtpEmail(settings.smtp_host, settings.smtp_port, settings.smtp_from,
                                 username=settings.smtp_username,
                                 password=settings.smtp_password,
                                 starttls=settings.smtp_starttls,
                                 timeout=settings.smtp_timeout_s)  # fmt: skip
    if settings.sms_gateway:
        out["sms"] = _gateway_channel(settings.sms_gateway, settings,
                                      setting="GUANXI_SMS_GATEWAY", kind="sms")  # fmt: skip
    if settings.wechat_gateway:
        out["wechat"] = _gateway_channel(
            settings.wechat_gateway, settings, setting="GUANXI_WECHAT_GATEWAY", kind="wechat"
        )
    return out
