"""Map the columns of an import file onto Guanxi's fields.

Shops export from many POS systems and spreadsheets; headers come in Chinese or English, with
units in brackets and stray spaces. Each field has synonyms; ``--map col=field`` overrides them
and ``--map col=-`` ignores a column. Columns that map to nothing are kept as custom fields
(customers) or reported as ignored (purchases): nothing is dropped silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from guanxi.errors import InvalidInput

IGNORE = "-"

CUSTOMER_FIELDS: dict[str, tuple[str, ...]] = {
    "code": (
        "会员卡号",
        "会员号",
        "卡号",
        "会员编号",
        "客户编号",
        "客户编码",
        "会员编码",
        "member_no",
        "card_no",
        "customer_code",
        "customer_id",
        "code",
    ),
    "name": (
        "姓名",
        "客户名称",
        "客户姓名",
        "会员姓名",
        "顾客姓名",
        "名称",
        "name",
        "customer_name",
        "full_name",
    ),
    "gender": ("性别", "gender", "sex"),
    "phone": (
        "手机",
        "手机号",
        "手机号码",
        "电话",
        "联系电话",
        "电话号码",
        "联系方式",
        "mobile",
        "phone",
        "tel",
        "telephone",
        "cellphone",
    ),
    "email": ("邮箱", "电子邮件", "电子邮箱", "email", "e-mail", "mail"),
    "wechat_id": ("微信", "微信号", "wechat", "wechat_id", "weixin"),
    "birthday": (
        "生日",
        "出生日期",
        "出生年月日",
        "birthday",
        "birth_date",
        "date_of_birth",
        "dob",
    ),
    "city": ("城市", "所在城市", "地区", "city"),
    "source": ("来源", "客户来源", "获客渠道", "source", "acquisition_source"),
    "tags": ("标签", "客户标签", "tags", "tag"),
    "interests": ("兴趣", "爱好", "兴趣爱好", "interests", "hobbies"),
    "communication_style": ("沟通风格", "性格", "性格类型", "communication_style", "style"),
    "notes": ("备注", "说明", "notes", "note", "remark", "remarks", "memo"),
    "owner_staff": (
        "专属顾问",
        "顾问",
        "所属员工",
        "负责人",
        "客户经理",
        "导购",
        "owner",
        "account_owner",
        "owner_staff",
    ),
    "home_store": ("门店", "所属门店", "开卡门店", "店铺", "store", "home_store"),
    "referred_by": ("推荐人", "推荐人手机", "推荐人电话", "介绍人", "referrer", "referred_by"),
    "consent": ("同意营销", "营销同意", "接收营销", "接受营销", "marketing_consent", "consent"),
    "consent_sms": ("短信营销", "接收短信", "接受短信", "短信同意", "sms_consent", "consent_sms"),
    "consent_email": (
        "邮件营销",
        "接收邮件",
        "接受邮件",
        "邮件同意",
        "email_consent",
        "consent_email",
    ),
    "consent_wechat": (
        "微信营销",
        "接收微信",
        "接受微信",
        "微信同意",
        "wechat_consent",
        "consent_wechat",
    ),
    "consent_phone": (
        "电话营销",
        "接收电话",
        "接受电话",
        "电话回访同意",
        "phone_consent",
        "consent_phone",
    ),
    "joined_on": (
        "入会日期",
        "注册日期",
        "开卡日期",
        "注册时间",
        "入会时间",
        "joined",
        "joined_on",
        "registered_at",
        "created_at",
    ),
}

PURCHASE_FIELDS: dict[str, tuple[str, ...]] = {
    "order_id": (
        "订单号",
        "单号",
        "订单编号",
        "小票号",
        "流水号",
        "单据号",
        "销售单号",
        "order_id",
        "order_no",
        "order",
        "receipt_no",
        "receipt",
        "invoice_no",
    ),
    "date": (
        "日期",
        "下单时间",
        "订单日期",
        "交易时间",
        "销售日期",
        "销售时间",
        "购买日期",
        "时间",
        "date",
        "datetime",
        "order_date",
        "purchased_at",
        "time",
    ),
    "customer_code": (
        "会员卡号",
        "会员号",
        "卡号",
        "会员编号",
        "客户编号",
        "客户编码",
        "member_no",
        "card_no",
        "customer_code",
        "customer_id",
    ),
    "phone": (
        "手机",
        "手机号",
        "手机号码",
        "电话",
        "联系电话",
        "会员手机",
        "客户手机",
        "mobile",
        "phone",
        "tel",
    ),
    "email": ("邮箱", "电子邮件", "email", "e-mail"),
    "customer_name": (
        "姓名",
        "客户名称",
        "客户姓名",
        "会员姓名",
        "顾客姓名",
        "name",
        "customer_name",
        "customer",
    ),
    "sku": (
        "商品",
        "sku",
        "商品编码",
        "商品编号",
        "货号",
        "条码",
        "商品条码",
        "product",
        "item",
        "product_code",
        "item_code",
    ),
    "product_name": ("商品名称", "品名", "商品名", "product_name", "item_name", "description"),
    "category": ("类别", "品类", "分类", "商品分类", "商品类别", "category"),
    "quantity": ("数量", "件数", "qty", "quantity", "count"),
    "unit_price": ("单价", "售价", "零售价", "unit_price", "price"),
    "discount": ("折扣", "折扣金额", "优惠", "优惠金额", "discount"),
    "amount": (
        "金额",
        "实付金额",
        "实收金额",
        "成交金额",
        "小计",
        "销售金额",
        "amount",
        "paid",
        "line_total",
        "total",
    ),
    "store": ("门店", "店铺", "门店名称", "销售门店", "store", "shop"),
    "staff": ("导购", "店员", "收银员", "销售员", "营业员", "staff", "clerk", "salesperson"),
    "payment_method": ("支付方式", "付款方式", "结算方式", "payment", "payment_method"),
    "promotion": ("促销", "是否促销", "活动", "promotion", "is_promotion"),
}

_NOISE = re.compile(r"[\s_\-:：*]+|[（(][^）)]*[）)]$")


def normalise_header(text: str) -> str:
    """'实付金额(元)' -> '实付金额'; ' Order_No ' -> 'orderno'."""
    return _NOISE.sub("", text.replace("\ufeff", "").strip().lower())


@dataclass(frozen=True)
class ColumnMap:
    """Which file column (by index) feeds which field; what was left unmapped."""

    fields: dict[str, int]
    headers: list[str]
    unmapped: list[int]

    def describe(self) -> dict[str, str]:
        """{header: field} for reports and previews."""
        out = {self.headers[i]: f for f, i in self.fields.items()}
        out.update({self.headers[i]: "" for i in self.unmapped})
        return out


def parse_overrides(items: list[str]) -> dict[str, str]:
    """Parse ``--map col=field`` options into {column header: field}."""
    out: dict[str, str] = {}
    for item in items:
        col, sep, field = item.partition("=")
        if not sep or not col.strip():
            raise InvalidInput(f"--map {item!r}: expected COLUMN=FIELD (or COLUMN=- to ignore)")
        out[col.strip()] = field.strip() or IGNORE
    return out


def map_columns(
    headers: list[str],
    synonyms: dict[str, tuple[str, ...]],
    *,
    overrides: dict[str, str] | None = None,
    required: tuple[tuple[str, ...], ...] = (),
) -> ColumnMap:
    """Match headers to fields; raise InvalidInput on ambiguity or a missing required field.

    ``required`` lists alternatives: (("sku", "product_name"),) needs at least one of them.
    """
    overrides = dict(overrides or {})
    lookup = {normalise_header(s): f for f, names in synonyms.items() for s in names}
    fields: dict[str, int] = {}
    unmapped: list[int] = []
    for index, header in enumerate(headers):
        field = _field_for(header, overrides, lookup, synonyms)
        if field is None:
            unmapped.append(index)
        elif field != IGNORE:
            if field in fields:
                raise InvalidInput(
                    f"columns {headers[fields[field]]!r} and {header!r} both map to {field!r}: "
                    f"add --map '{header}=-' to ignore one, or map it to another field"
                )
            fields[field] = index
    if overrides:
        raise InvalidInput(
            f"--map names columns not in the file: {', '.join(overrides)}; "
            f"the columns are: {', '.join(headers)}"
        )
    _check_required(fields, required, headers)
    return ColumnMap(fields=fields, headers=headers, unmapped=unmapped)


def _field_for(
    header: str,
    overrides: dict[str, str],
    lookup: dict[str, str],
    synonyms: dict[str, tuple[str, ...]],
) -> str | None:
    if header in overrides:
        field = overrides.pop(header)
        if field != IGNORE and field not in synonyms:
            raise InvalidInput(
                f"--map {header}={field}: unknown field; fields are {', '.join(synonyms)}"
            )
        return field
    return lookup.get(normalise_header(header))


def _check_required(
    fields: dict[str, int], required: tuple[tuple[str, ...], ...], headers: list[str]
) -> None:
    for alternatives in required:
        if not any(a in fields for a in alternatives):
            wanted = " or ".join(alternatives)
            raise InvalidInput(
                f"no column for {wanted}; the columns are: {', '.join(headers)}. "
                f"Name one with --map COLUMN={alternatives[0]}"
            )
