"""SMS and WeChat gateways plugged in by the settings ('package.module:factory'): how they are
loaded (and the errors when they cannot be), and messages going through ``send_due`` end to
end: consent checked again, the opt-out text, refusals retried, unknown outcomes never resent
(both databases)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from guanxi.care.channels import (
    DeliveryFailed,
    SmsChannel,
    WeChatChannel,
    channels_from_settings,
)
from guanxi.care.outbox import Draft, SendPolicy, queue, send_due
from guanxi.config import Settings
from guanxi.errors import ConfigError
from guanxi.storage.db import Database
from guanxi.storage.models import Consent, Message
from tests.factories import make_customer

NOW = datetime(2026, 9, 21, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai: not the quiet hours
POLICY = SendPolicy(public_url="https://crm.example.cn")
REFUSES = "+8613700000002"  # the fake provider definitely refuses this number
TIMES_OUT = "+8613700000003"  # ... and times out (outcome unknown) on this one


class RecordingGateway:
    """A shop's provider at the boundary we don't own: records what it was asked to send."""

    made: list[RecordingGateway] = []

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sent: list[tuple[str, str]] = []
        self.closed = 0
        RecordingGateway.made.append(self)

    def _send(self, to: str, text: str) -> str:
        if to == REFUSES:
            raise DeliveryFailed("isv.MOBILE_NUMBER_ILLEGAL")
        if to == TIMES_OUT:
            raise TimeoutError("read timed out")
        self.sent.append((to, text))
        return f"gw-{len(self.sent)}"

    def send_sms(self, phone: str, text: str) -> str | None:
        return self._send(phone, text)

    def send_wechat(self, wechat_id: str, text: str) -> str | None:
        return self._send(wechat_id, text)

    def close(self) -> None:
        self.closed += 1


def make_gateway(settings: Settings) -> RecordingGateway:
    return RecordingGateway(settings)


def make_nothing(settings: Settings) -> object:
    return object()


NOT_A_FACTORY = 42
HERE = __name__


@pytest.fixture(autouse=True)
def _forget_gateways() -> None:
    RecordingGateway.made.clear()


def settings(**values: str) -> Settings:
    return Settings(**values)  # type: ignore[arg-type]


def customer(db: Database, phone: str, *, consent: bool = True, **fields: object) -> int:
    cid = make_customer(db, phone=phone, **fields)
    with db.write() as s:
        for channel in ("sms", "wechat"):
            s.add(Consent(customer_id=cid, channel=channel, is_granted=consent,
                          changed_at=NOW - timedelta(days=30), source="counter"))  # fmt: skip
    return cid


def statuses(db: Database) -> dict[str, tuple[str, int]]:
    with db.read() as s:
        rows = s.execute(select(Message.dedupe_key, Message.status, Message.attempts)).all()
    return {key: (status, attempts) for key, status, attempts in rows}


def test_channels_from_settings_wraps_the_gateways() -> None:
    channels = channels_from_settings(settings(sms_gateway=f"{HERE}:make_gateway",
                                               wechat_gateway=f"{HERE}:make_gateway"))  # fmt: skip
    assert isinstance(channels["sms"], SmsChannel)
    assert isinstance(channels["wechat"], WeChatChannel)
    assert "email" not in channels
    assert RecordingGateway.made[0].settings.sms_gateway == f"{HERE}:make_gateway"
    assert channels_from_settings(settings()) == {}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("no_such_package.gateway:make", "cannot import 'no_such_package.gateway'"),
        (f"{HERE}:missing", "has no callable 'missing'"),
        (f"{HERE}:NOT_A_FACTORY", "has no callable 'NOT_A_FACTORY'"),
        (f"{HERE}:make_nothing", "returned 'object', which has no send_sms(phone, text)"),
    ],
)
def test_a_gateway_that_cannot_be_loaded_is_a_config_error(path: str, expected: str) -> None:
    with pytest.raises(ConfigError, match="GUANXI_SMS_GATEWAY") as caught:
        channels_from_settings(settings(sms_gateway=path))
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_wechat_gateway_must_send_wechat() -> None:
    with pytest.raises(ConfigError, match="GUANXI_WECHAT_GATEWAY.*send_wechat"):
        channels_from_settings(settings(wechat_gateway=f"{HERE}:make_nothing"))


def test_the_gateway_path_and_the_opt_out_text_are_checked_at_start_up() -> None:
    with pytest.raises(ValidationError, match="package.module:factory"):
        settings(sms_gateway="shop_sms.make_gateway")
    with pytest.raises(ValidationError, match="GUANXI_SMS_OPT_OUT_TEXT is empty"):
        settings(sms_opt_out_text="  ")
    with pytest.raises(ValidationError, match="GUANXI_SMS_OPT_OUT_WORDS"):
        settings(sms_opt_out_words=" , ")
    with pytest.raises(ValidationError, match="GUANXI_SMS_OPT_OUT_WORDS"):
        settings(sms_opt_out_words="。, !")  # punctuation only: no reply could ever match
    with pytest.raises(ValidationError, match="package.module:factory"):
        settings(wechat_gateway=" :make ")
    assert settings(sms_opt_out_text=" 退订回T ").sms_opt_out_text == "退订回T"


def test_sms_through_a_gateway_end_to_end(db: Database) -> None:
    ok = customer(db, "+8613700000001")
    refused = customer(db, REFUSES)
    unknown = customer(db, TIMES_OUT)
    withdrawn = customer(db, "+8613700000004")
    with db.write() as s:
        queue(s, [Draft(c, "sms", None, "张女士，新茶到店。", key)
                  for c, key in ((ok, "ok"), (refused, "refused"), (unknown, "unknown"),
                                 (withdrawn, "withdrawn"))]
              + [Draft(ok, "sms", None, "您的积分余额 120", "receipt", is_marketing=False)],
              now=NOW)  # fmt: skip
        # The customer opts out after the message was queued: checked again at send time.
        s.get(Consent, (withdrawn, "sms")).is_granted = False  # type: ignore[union-attr]
    channels = channels_from_settings(settings(sms_gateway=f"{HERE}:make_gateway"))
    report = send_due(db, now=NOW, channels=channels, policy=POLICY)
    gateway = RecordingGateway.made[0]
    assert (report.sent, report.retrying, report.unknown) == (2, 1, 1)
    assert report.skipped == {"no_consent": 1}
    assert sorted(gateway.sent) == [("+8613700000001", "张女士，新茶到店。回复TD退订"),
                                    ("+8613700000001", "您的积分余额 120")]  # fmt: skip
    assert gateway.closed == 1
    assert statuses(db) == {"ok": ("sent", 1), "receipt": ("sent", 1), "refused": ("queued", 1),
                            "unknown": ("unknown", 1), "withdrawn": ("skipped", 0)}  # fmt: skip
    with db.read() as s:
        provider_ids = set(s.execute(select(Message.provider_id)
                                     .where(Message.status == "sent")).scalars())  # fmt: skip
    assert provider_ids == {"gw-1", "gw-2"}
    # Later: the refused one is tried again (and refused again); the unknown one never is.
    later = send_due(db, now=NOW + timedelta(hours=1), channels=channels, policy=POLICY)
    assert (later.sent, later.retrying, later.unknown) == (0, 1, 0)
    assert statuses(db)["unknown"] == ("unknown", 1)
    assert statuses(db)["refused"] == ("queued", 2)


def test_wechat_through_a_gateway(db: Database) -> None:
    a = customer(db, "+8613700000011", wechat_id="o6_bmjrPTlm6_2sgVt7hMZOPfL2M")
    b = customer(db, "+8613700000012", wechat_id=None)  # no WeChat id: skipped
    with db.write() as s:
        queue(s, [Draft(a, "wechat", None, "中秋快乐", "a"),
                  Draft(b, "wechat", None, "中秋快乐", "b"),
                  Draft(a, "sms", None, "中秋快乐", "sms")], now=NOW)  # fmt: skip
    channels = channels_from_settings(settings(wechat_gateway=f"{HERE}:make_gateway"))
    report = send_due(db, now=NOW, channels=channels, policy=POLICY)
    assert report.sent == 1 and report.skipped == {"no_address": 1}
    assert RecordingGateway.made[0].sent == [("o6_bmjrPTlm6_2sgVt7hMZOPfL2M", "中秋快乐")]
    assert statuses(db)["sms"] == ("queued", 0)  # no SMS gateway: left for the export


def test_cli_send_uses_the_configured_gateway(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from guanxi.cli.main import app

    a = customer(db, "+8613700000021")
    with db.write() as s:
        queue(s, [Draft(a, "sms", None, "您好", "1", is_marketing=False)],
              now=datetime.now(UTC) - timedelta(minutes=1))  # fmt: skip
    monkeypatch.delenv("GUANXI_SMTP_HOST", raising=False)
    monkeypatch.setenv("GUANXI_SMS_GATEWAY", f"{HERE}:make_gateway")
    url = db.url.render_as_string(hide_password=False)
    sent = CliRunner().invoke(app, ["--db", url, "outbox", "send", "--json"])
    assert sent.exit_code == 0, sent.output
    assert json.loads(sent.output)["sent"] == 1
    assert RecordingGateway.made[0].sent == [("+8613700000021", "您好")]
    monkeypatch.setenv("GUANXI_SMS_GATEWAY", f"{HERE}:missing")
    failed = CliRunner().invoke(app, ["--db", url, "outbox", "send"])
    assert failed.exit_code == 1 and "has no callable 'missing'" in failed.output
