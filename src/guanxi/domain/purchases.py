"""Purchase value types."""

from enum import StrEnum


class PaymentMethod(StrEnum):
    """How a purchase was paid."""

    CASH = "cash"
    WECHAT_PAY = "wechat_pay"
    ALIPAY = "alipay"
    CARD = "card"
    STORED_VALUE = "stored_value"
    POINTS = "points"
    OTHER = "other"


class ImportKind(StrEnum):
    """What an import file holds."""

    CUSTOMERS = "customers"
    PURCHASES = "purchases"
