"""The demo shop itself: its two stores, the staff and the tea and tea ware catalogue."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from guanxi.domain.staff import Role
from guanxi.services.demo.context import SHANGHAI, Context, Weighted

SHOP_NAME = "茗香阁"

STORES = (("SH01", f"{SHOP_NAME}旗舰店", 430), ("SH02", f"{SHOP_NAME}社区店", 120))  # days open
STAFF = (
    ("林婉清", Role.OWNER, None),
    ("王建国", Role.MANAGER, 1),
    ("张伟", Role.CLERK, 1),
    ("刘思雨", Role.CLERK, 1),
    ("周敏", Role.MANAGER, 2),
    ("赵磊", Role.CLERK, 2),
    ("孙晓婷", Role.CLERK, 2),
)

# sku, name, category, list price (yuan), popularity
PRODUCTS: tuple[tuple[str, str, str, str, int], ...] = (
    ("GRN-01", "西湖龙井 明前特级 50g", "绿茶", "298", 6),
    ("GRN-02", "西湖龙井 雨前一级 100g", "绿茶", "268", 8),
    ("GRN-03", "洞庭碧螺春 50g", "绿茶", "168", 6),
    ("GRN-04", "黄山毛峰 100g", "绿茶", "128", 5),
    ("GRN-05", "信阳毛尖 100g", "绿茶", "118", 4),
    ("GRN-06", "六安瓜片 100g", "绿茶", "188", 3),
    ("GRN-07", "太平猴魁 100g", "绿茶", "358", 3),
    ("GRN-08", "安吉白茶 50g", "绿茶", "158", 6),
    ("GRN-09", "峨眉竹叶青 100g", "绿茶", "198", 3),
    ("GRN-10", "茉莉花茶 100g", "绿茶", "68", 9),
    ("GRN-11", "桂花绿茶 袋泡 20包", "绿茶", "39.90", 7),
    ("BLK-01", "正山小种 100g", "红茶", "138", 7),
    ("BLK-02", "金骏眉 50g", "红茶", "398", 4),
    ("BLK-03", "祁门红茶 100g", "红茶", "158", 5),
    ("BLK-04", "滇红金芽 100g", "红茶", "128", 5),
    ("BLK-05", "英德红茶 100g", "红茶", "98", 4),
    ("BLK-06", "坦洋工夫 100g", "红茶", "118", 3),
    ("BLK-07", "红茶袋泡 25包", "红茶", "45.50", 8),
    ("BLK-08", "九曲红梅 100g", "红茶", "148", 2),
    ("OOL-01", "安溪铁观音 清香 250g", "乌龙茶", "168", 8),
    ("OOL-02", "安溪铁观音 浓香 250g", "乌龙茶", "158", 6),
    ("OOL-03", "武夷大红袍 125g", "乌龙茶", "268", 6),
    ("OOL-04", "武夷肉桂 125g", "乌龙茶", "238", 4),
    ("OOL-05", "武夷水仙 125g", "乌龙茶", "168", 3),
    ("OOL-06", "凤凰单丛 蜜兰香 100g", "乌龙茶", "198", 4),
    ("OOL-07", "冻顶乌龙 150g", "乌龙茶", "228", 3),
    ("OOL-08", "东方美人 50g", "乌龙茶", "268", 2),
    ("OOL-09", "桂花乌龙 三角包 20包", "乌龙茶", "49", 7),
    ("OOL-10", "漳平水仙 茶饼 250g", "乌龙茶", "138", 2),
    ("PUE-01", "勐海熟普 饼茶 357g", "普洱白茶", "188", 6),
    ("PUE-02", "易武生普 饼茶 357g", "普洱白茶", "458", 3),
    ("PUE-03", "老班章古树生普 200g", "普洱白茶", "1280", 1),
    ("PUE-04", "新会小青柑 250g", "普洱白茶", "168", 7),
    ("PUE-05", "宫廷熟普 散茶 250g", "普洱白茶", "128", 4),
    ("PUE-06", "梧州六堡茶 250g", "普洱白茶", "198", 2),
    ("PUE-07", "福鼎白毫银针 100g", "普洱白茶", "368", 3),
    ("PUE-08", "福鼎白牡丹 100g", "普洱白茶", "158", 4),
    ("PUE-09", "寿眉 饼茶 350g", "普洱白茶", "188", 4),
    ("PUE-10", "2015年老白茶饼 350g", "普洱白茶", "588", 2),
    ("WARE-01", "宜兴紫砂壶 朱泥西施 200ml", "茶具", "880", 2),
    ("WARE-02", "宜兴紫砂壶 原矿石瓢 260ml", "茶具", "1680", 1),
    ("WARE-03", "景德镇青花盖碗 150ml", "茶具", "128", 6),
    ("WARE-04", "白瓷盖碗 130ml", "茶具", "58", 7),
    ("WARE-05", "玻璃公道杯 260ml", "茶具", "45", 6),
    ("WARE-06", "品茗杯 六只装", "茶具", "88", 6),
    ("WARE-07", "建盏 兔毫", "茶具", "368", 2),
    ("WARE-08", "竹制茶盘", "茶具", "398", 2),
    ("WARE-09", "茶道六君子", "茶具", "68", 4),
    ("WARE-10", "旅行便携茶具套装", "茶具", "158", 4),
    ("WARE-11", "锡制茶叶罐", "茶具", "238", 2),
    ("WARE-12", "电陶炉 煮茶器", "茶具", "458", 2),
    ("WARE-13", "汝窑茶宠", "茶具", "38", 4),
    ("GIFT-01", "龙井礼盒 250g", "礼盒", "598", 3),
    ("GIFT-02", "金骏眉礼盒 250g", "礼盒", "688", 2),
    ("GIFT-03", "大红袍礼盒 250g", "礼盒", "498", 3),
    ("GIFT-04", "普洱珍藏礼盒 两饼", "礼盒", "888", 1),
    ("GIFT-05", "四季名茶礼盒 四罐", "礼盒", "368", 4),
    ("GIFT-06", "中秋茶月礼盒 茶与月饼", "礼盒", "328", 3),
    ("GIFT-07", "新春年货茶礼", "礼盒", "688", 3),
    ("GIFT-08", "商务茶具套装礼盒", "礼盒", "1288", 1),
    ("GIFT-09", "白茶礼盒 300g", "礼盒", "458", 2),
    ("GIFT-10", "小罐茶 十罐装", "礼盒", "228", 4),
)
GIFT_CATEGORY = "礼盒"
TIER_PRICES = (50.0, 90.0, 160.0, 300.0, 600.0)  # the price each spend tier gravitates to


def add_shop(ctx: Context) -> None:
    """Stores, staff and the product catalogue."""
    before = datetime.combine(ctx.start, datetime.min.time(), SHANGHAI)
    for i, (code, name, days_open) in enumerate(STORES, start=1):
        at = (before - timedelta(days=days_open)).astimezone(UTC)
        ctx.t.add("store", id=i, code=code, name=name, timezone="Asia/Shanghai", created_at=at)
    opened = ctx.t.rows["store"][0]["created_at"]
    for i, (name, role, store_id) in enumerate(STAFF, start=1):
        ctx.t.add(
            "staff",
            id=i,
            name=name,
            role=role.value,
            store_id=store_id,
            is_active=True,
            created_at=opened,
        )
    for i, (sku, name, category, price, _) in enumerate(PRODUCTS, start=1):
        ctx.t.add("product", id=i, sku=sku, name=name, category=category, list_price=Decimal(price))


def serving_pickers() -> dict[int, Weighted[int]]:
    """Who serves at each store: clerks twice as often as the manager."""
    return {
        store: Weighted(
            [
                (i, 1.0 if role is Role.MANAGER else 2.0)
                for i, (_, role, at) in enumerate(STAFF, start=1)
                if at == store
            ]
        )
        for store in range(1, len(STORES) + 1)
    }


def product_pickers() -> dict[tuple[int, bool], Weighted[int]]:
    """A product picker per spend tier, in and out of gift season."""
    return {
        (tier, gifts): Weighted(product_weights(tier, gifts))
        for tier in range(len(TIER_PRICES))
        for gifts in (False, True)
    }


def product_weights(tier: int, gifts: bool) -> list[tuple[int, float]]:
    """Product ids weighted by popularity, closeness to the tier's price and gift season."""
    target = TIER_PRICES[tier]
    out = []
    for pid, (_, _, category, price, popularity) in enumerate(PRODUCTS, start=1):
        closeness = 1 / (1 + abs(math.log(float(price) / target))) ** 2
        season = 4.0 if gifts and category == GIFT_CATEGORY else 1.0
        out.append((pid, popularity * closeness * season))
    return out
