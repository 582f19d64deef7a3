"""The demo's rewards catalog, coupon campaigns and stored-value cards, with their use over the
programme's 30 days, all through the loyalty services (so stock, points, coupon uses and card
balances move as they do at a real counter)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from guanxi.loyalty import coupons, rewards, stored_value
from guanxi.loyalty.coupons import Basket, CampaignDraft
from guanxi.loyalty.rewards import RewardDraft
from guanxi.loyalty.stored_value import BonusRule
from guanxi.services.demo.loyalty_shop import Sale, Shop

# name, kind, points, stock, per-customer limit
CATALOG: tuple[tuple[str, rewards.Kind, int, int | None, int | None], ...] = (
    ("明前龙井试饮装 50g", rewards.Kind.GOODS, 500, 60, None),
    ("礼盒包装服务", rewards.Kind.SERVICE, 600, None, None),
    ("¥50 代金券", rewards.Kind.COUPON, 1000, None, None),
    ("紫砂品茗杯", rewards.Kind.GOODS, 1500, 20, None),
    ("茶艺体验课（一次）", rewards.Kind.SERVICE, 2000, None, 1),
    ("手工茶宠", rewards.Kind.GOODS, 2500, 6, None),
)
TOP_UP_RULES = (BonusRule(Decimal(1000), Decimal(100)), BonusRule(Decimal(500), Decimal(40)))
TOP_UPS = (Decimal(300), Decimal(500), Decimal(1000), Decimal(1000), Decimal(2000))
PAYMENTS = ("wechat_pay", "wechat_pay", "alipay", "cash", "card")
POOL_SIZE = 50


@dataclass(frozen=True)
class Offers:
    """What this module wrote."""

    rewards: int
    redemptions: int
    coupons_issued: int
    coupons_redeemed: int
    cards: int
    card_spends: int
    card_refunds: int


def add_offers(shop: Shop, holders: list[int]) -> Offers:
    """The catalog and its redemptions, the campaigns and their uses, the stored-value cards of
    ``holders`` (customers in id order to draw from)."""
    catalog, redeemed = _rewards(shop)
    issued, used = _coupons(shop)
    cards, spends, refunds = _cards(shop, holders)
    return Offers(catalog, redeemed, issued, used, cards, spends, refunds)


# -- rewards --------------------------------------------------------------------------------------


def _catalog(shop: Shop) -> list[rewards.RewardView]:
    """The owner's six rewards, on offer from the programme's first day."""
    voucher = coupons.create_campaign(shop.db, shop.owner, CampaignDraft(
        "积分兑换 ¥50 代金券", coupons.Kind.FIXED, Decimal(50), min_spend=Decimal(200),
        valid_from=shop.since,
    ))  # fmt: skip
    made = []
    for name, kind, points, stock, limit in CATALOG:
        campaign = voucher.id if kind is rewards.Kind.COUPON else None
        draft = RewardDraft(kind.value, name, points, stock=stock, valid_from=shop.first_day,
                            per_customer_limit=limit, coupon_campaign_id=campaign)  # fmt: skip
        made.append(rewards.create_reward(shop.db, shop.owner, draft))
    return made


def _rewards(shop: Shop) -> tuple[int, int]:
    """About 40 redemptions (for 5,000 customers) by customers whose points suffice."""
    catalog = _catalog(shop)
    points = shop.points()
    stock = {r.id: r.stock for r in catalog}
    taken: dict[tuple[int, int], int] = {}
    target, done = shop.scaled(40, 6), 0
    for attempt in range(target * 5):
        if done == target:
            break
        rich = sorted(c for c, p in points.items() if p >= min(r.points_cost for r in catalog))
        if not rich:
            break
        customer = shop.rng.choice(rich)
        choices = [r for r in catalog if r.points_cost <= points[customer] and stock[r.id] != 0
                   and taken.get((customer, r.id), 0) < (r.per_customer_limit or 99)]  # fmt: skip
        reward = shop.rng.choice(choices)
        clerk = shop.clerk()
        day = shop.first_day + timedelta(days=1 + shop.rng.randrange(30))
        rewards.redeem_reward(shop.db, customer, reward.id, actor_id=clerk.id,
                              idempotency_key=f"demo:reward:{attempt}",
                              store_id=clerk.store_id, as_of=day)  # fmt: skip
        points[customer] -= reward.points_cost
        if stock[reward.id] is not None:
            stock[reward.id] = int(stock[reward.id] or 0) - 1
        taken[(customer, reward.id)] = taken.get((customer, reward.id), 0) + 1
        done += 1
    return len(catalog), done


# -- coupons --------------------------------------------------------------------------------------


def _campaigns(shop: Shop) -> tuple[int, int]:
    """The birthday coupon (¥20 off ¥100) and the autumn campaign (10 % off ¥300, at most
    ¥100 off), valid from the programme's first day with no last day: issuing refuses a
    campaign that has ended by the real clock, and the demo's end may lie years back."""
    birthday = coupons.create_campaign(shop.db, shop.owner, CampaignDraft(
        "生日礼券 ¥20", coupons.Kind.FIXED, Decimal(20), min_spend=Decimal(100),
        valid_from=shop.since,
    ))  # fmt: skip
    autumn = coupons.create_campaign(shop.db, shop.owner, CampaignDraft(
        "秋茶季 满300享九折", coupons.Kind.PERCENT, Decimal(10), max_discount=Decimal(100),
        min_spend=Decimal(300), valid_from=shop.since, uses_per_customer=1,
    ))  # fmt: skip
    return birthday.id, autumn.id


def _coupons(shop: Shop) -> tuple[int, int]:
    """Birthday coupons for the customers who bought in the window, some used on a later
    purchase; a public pool of 50 autumn codes, some used. Returns (issued, redeemed)."""
    birthday, autumn = _campaigns(shop)
    buyers = sorted({s.customer_id for s in shop.sales})
    chosen = sorted(shop.rng.sample(buyers, min(len(buyers), shop.scaled(80, 8))))
    codes = {c: coupons.issue_to_customer(shop.db, shop.manager, birthday, c).code
             for c in chosen}  # fmt: skip
    used: set[int] = set()  # the sales a coupon was used on: one coupon per order
    for sale in shop.sales:
        if sale.customer_id in codes and shop.rng.random() < 0.6:
            _use(shop, codes.pop(sale.customer_id), sale, used)
    pool = coupons.generate_pool(shop.db, shop.owner, autumn, POOL_SIZE)
    big = [s for s in shop.sales if s.total >= 300 and s.id not in used]
    for code, sale in zip(pool, shop.rng.sample(big, min(len(big), shop.scaled(18, 3))),
                          strict=False):  # fmt: skip
        _use(shop, code, sale, used)
    return len(chosen) + POOL_SIZE, len(used)


def _use(shop: Shop, code: str, sale: Sale, used: set[int]) -> None:
    """Redeem ``code`` on the purchase at its time when it qualifies (then add it to ``used``)."""
    basket: Basket = coupons.purchase_basket(shop.db, sale.id)
    if not coupons.validate(shop.db, code, basket, now=sale.at).valid:
        return
    coupons.redeem(shop.db, code, basket, idempotency_key=f"demo:coupon:{sale.id}",
                   actor_id=shop.clerk().id, order_ref=sale.order_ref, now=sale.at)  # fmt: skip
    used.add(sale.id)


# -- stored value ---------------------------------------------------------------------------------


def _cards(shop: Shop, holders: list[int]) -> tuple[int, int, int]:
    """The owner's bonus rules; about 30 top-ups, card payments on the holders' purchases in the
    window, and one refund of a card. Returns (cards, spends, refunds)."""
    stored_value.save_rules(shop.db, shop.owner, TOP_UP_RULES)
    chosen = sorted(shop.rng.sample(holders, min(len(holders), shop.scaled(30, 5))))
    held: dict[int, Decimal] = {}
    for customer in chosen:
        amount = shop.rng.choice(TOP_UPS)
        posted = stored_value.top_up(
            shop.db, customer, amount, payment_method=shop.rng.choice(PAYMENTS),
            idempotency_key=f"demo:top-up:{customer}", actor_id=shop.clerk().id,
        )  # fmt: skip
        held[customer] = posted.entry.balance_after.total
    spends = 0
    for sale in shop.sales:
        left = held.get(sale.customer_id, Decimal(0))
        if left > 0 and shop.rng.random() < 0.8:
            amount = min(left, sale.total)
            stored_value.spend(shop.db, sale.customer_id, amount, reference=sale.order_ref,
                               idempotency_key=f"demo:card:{sale.id}",
                               actor_id=shop.clerk().id)  # fmt: skip
            held[sale.customer_id] = left - amount
            spends += 1
    refunds = _refund_one(shop, chosen, held)
    return len(chosen), spends, refunds


def _refund_one(shop: Shop, chosen: list[int], held: dict[int, Decimal]) -> int:
    """A manager refunds the whole card of the last holder who still has money on it."""
    left = [c for c in chosen if held[c] > 0]
    if not left:
        return 0
    stored_value.refund(shop.db, shop.manager, left[-1], "顾客迁居外地，退还储值余额",
                        payment_method="wechat_pay",
                        idempotency_key=f"demo:card-refund:{left[-1]}")  # fmt: skip
    return 1
