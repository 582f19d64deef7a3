"""Returns of stored purchases: refunds per line, the points reversed, replays, refusals.

The programme gives 1.5 points per yuan, so a purchase of 1380.00 earns 2070 points and a
refund of R yuan takes back floor(2070 × R / 1380) = floor(1.5 × R) points.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from guanxi.domain.purchases import PaymentMethod
from guanxi.domain.staff import Role
from guanxi.errors import NotFound
from guanxi.loyalty import ledger, stored_value
from guanxi.loyalty.ledger import Kind
from guanxi.loyalty.rules import EarningProgram
from guanxi.services.purchases import (
    CustomerRef,
    InvalidField,
    LineInput,
    PurchaseInput,
    record_purchase,
)
from guanxi.services.returns import (
    RecordedReturn,
    ReturnConflict,
    ReturnInput,
    ReturnLineInput,
    record_return,
)
from guanxi.services.staff import StaffMember
from guanxi.storage.db import Database
from guanxi.storage.models import (
    LoyaltyProgram,
    PointsEntry,
    PurchaseReturn,
    Staff,
    Store,
)
from tests.factories import make_customer

NOW = datetime(2024, 1, 10, 4, 0, tzinfo=UTC)


@pytest.fixture
def stores(db: Database) -> tuple[int, int]:
    with db.write() as s:
        a, b = Store(code="A", name="旗舰店"), Store(code="B", name="社区店")
        s.add_all([a, b])
        s.flush()
        return a.id, b.id


def _programme(db: Database, per_yuan: str) -> None:
    with db.write() as s:
        rules = EarningProgram(points_per_yuan=Decimal(per_yuan)).as_json()
        s.add(LoyaltyProgram(rules=rules, points_valid_months=None))


def _purchase(db: Database, store: int, order: str = "O-1") -> tuple[int, int, int]:
    """Line 1: 2 × 640.00 tea; line 2: 3 cups for 100.00. Returns (purchase, customer, points)."""
    recorded = record_purchase(
        db,
        PurchaseInput(
            external_order_id=order, customer=CustomerRef(phone="+8613812345678", name="张三"),
            purchased_at=datetime(2024, 1, 5, 6, 30, tzinfo=UTC), store_id=store,
            lines=(LineInput("TEA", Decimal(2), Decimal("640.00")),
                   LineInput("CUP", Decimal(3), amount=Decimal("100.00"))),
        ),
        store_scope=None, now=NOW,
    )  # fmt: skip
    points = recorded.points.points if recorded.points else 0
    return recorded.purchase.id, recorded.purchase.customer_id, points


@pytest.fixture
def sale(db: Database, stores: tuple[int, int]) -> tuple[int, int]:
    _programme(db, "1.5")
    purchase, customer, points = _purchase(db, stores[0])
    assert points == 2070 and ledger.balance(db, customer) == 2070
    return purchase, customer


def _return(
    db: Database,
    purchase: int,
    rid: str,
    *lines: tuple[int, str] | tuple[int, str, str],
    scope: int | None = None,
    reason: str | None = None,
) -> RecordedReturn:
    sent = tuple(
        ReturnLineInput(x[0], Decimal(x[1]), Decimal(x[2]) if len(x) == 3 else None)  # type: ignore[misc]
        for x in lines
    )
    return record_return(
        db, purchase, ReturnInput(rid, sent, reason=reason), store_scope=scope, now=NOW
    )


def _reverses(db: Database, customer: int) -> list[PointsEntry]:
    with db.read() as s:
        return list(
            s.execute(
                select(PointsEntry)
                .where(PointsEntry.customer_id == customer, PointsEntry.kind == Kind.REVERSE)
                .order_by(PointsEntry.id)
            ).scalars()
        )


def test_refund_per_line_and_points_reversed_pro_rata_rounded_down(
    db: Database, sale: tuple[int, int]
) -> None:
    purchase, customer = sale
    done = _return(db, purchase, "R-1", (2, "1"), (1, "1"), reason="damaged")
    r = done.ret
    assert not done.replayed and r.purchase_id == purchase and r.customer_id == customer
    assert [(x.line_no, x.sku, x.quantity, x.amount) for x in r.lines] == [
        (1, "TEA", Decimal(1), Decimal("640.00")),
        (2, "CUP", Decimal(1), Decimal("33.33")),  # 100.00 × 1/3, to the fen
    ]
    assert r.refund_amount == Decimal("673.33") and r.reason == "damaged"
    # floor(2070 × 640 / 1380) = 960; floor(2070 × 33.33 / 1380) = floor(49.995) = 49
    assert [x.points_reversed for x in r.lines] == [960, 49]
    assert (done.points_reversed, done.balance, done.flagged) == (1009, 1061, False)
    entries = _reverses(db, customer)
    assert sorted((e.source_id, e.idempotency_key, -e.points) for e in entries) == sorted(
        (f"return-line:{x.id}", f"return-line:{x.id}", x.points_reversed) for x in r.lines
    )
    assert ledger.balance(db, customer) == 1061 and ledger.check_balances(db) == []


def test_the_same_return_again_is_a_replay_that_reverses_nothing_more(
    db: Database, sale: tuple[int, int]
) -> None:
    purchase, customer = sale
    first = _return(db, purchase, "R-1", (2, "1"), (1, "1"))
    # the same content, written differently: lines in another order, the refund given
    again = _return(db, purchase, "R-1", (1, "1.000", "640.00"), (2, "1"))
    assert again.replayed and again.ret == first.ret
    assert (again.points_reversed, again.balance) == (first.points_reversed, first.balance)
    assert len(_reverses(db, customer)) == 2
    assert ledger.balance(db, customer) == 1061 and ledger.check_balances(db) == []
    with db.read() as s:
        assert s.execute(select(func.count()).select_from(PurchaseReturn)).scalar_one() == 1


def test_a_different_return_with_the_same_id_is_a_conflict(
    db: Database, sale: tuple[int, int]
) -> None:
    purchase, customer = sale
    first = _return(db, purchase, "R-1", (2, "1"))
    for changed in ((2, "2"), (1, "1"), (2, "1", "30.00")):
        with pytest.raises(ReturnConflict, match="R-1.*lines") as caught:
            _return(db, purchase, "R-1", changed)
        assert caught.value.return_id == first.ret.id
    with pytest.raises(ReturnConflict, match="reason"):
        _return(db, purchase, "R-1", (2, "1"), reason="other")
    assert len(_reverses(db, customer)) == 1
    # another id is another return
    assert not _return(db, purchase, "R-2", (2, "1")).replayed


def test_the_last_of_a_line_refunds_what_is_left(db: Database, sale: tuple[int, int]) -> None:
    purchase, customer = sale
    got = [_return(db, purchase, f"R-{i}", (2, "1")) for i in range(3)]
    assert [g.ret.refund_amount for g in got] == [Decimal("33.33")] * 2 + [Decimal("33.34")]
    # floor(1.5 × 33.33) = 49 twice, floor(1.5 × 33.34) = floor(50.01) = 50
    assert [g.points_reversed for g in got] == [49, 49, 50]
    assert ledger.balance(db, customer) == 2070 - 148 and ledger.check_balances(db) == []


def test_more_than_bought_is_refused_naming_the_line(db: Database, sale: tuple[int, int]) -> None:
    purchase, customer = sale
    _return(db, purchase, "R-1", (2, "2"))
    with pytest.raises(InvalidField, match=r"line 2 \(3 bought, 2 returned before\).*not 2") as c:
        _return(db, purchase, "R-2", (1, "1"), (2, "2"))
    assert c.value.field == "lines.1.quantity"
    with pytest.raises(InvalidField, match="line 2: at most 33.33 is left to refund"):
        _return(db, purchase, "R-3", (2, "1", "40.00"))
    with pytest.raises(InvalidField, match="no line 3"):
        _return(db, purchase, "R-4", (3, "1"))
    with pytest.raises(InvalidField, match="listed twice"):
        _return(db, purchase, "R-5", (1, "1"), (1, "1"))
    # nothing of the refused returns was written, points included
    with db.read() as s:
        assert s.execute(select(func.count()).select_from(PurchaseReturn)).scalar_one() == 1
    assert len(_reverses(db, customer)) == 1
    assert ledger.balance(db, customer) == 2070 - 100  # 66.67 refunded: floor(100.005)
    assert ledger.check_balances(db) == []


def test_a_given_refund_is_used_when_not_more_than_what_is_left(
    db: Database, sale: tuple[int, int]
) -> None:
    purchase, customer = sale
    done = _return(db, purchase, "R-1", (1, "2", "1000.00"))  # a goodwill partial refund
    assert done.ret.refund_amount == Decimal("1000.00")
    assert done.points_reversed == 1500  # floor(2070 × 1000 / 1380)
    # the line is fully returned: nothing more of it can come back
    with pytest.raises(InvalidField, match="line 1"):
        _return(db, purchase, "R-2", (1, "1"))


def test_spent_points_are_clawed_back_below_zero_and_flagged(
    db: Database, sale: tuple[int, int]
) -> None:
    purchase, customer = sale
    ledger.redeem(db, customer, 2000, reason="gift", idempotency_key="g", actor_id=None)
    done = _return(db, purchase, "R-1", (1, "1"))
    assert (done.points_reversed, done.balance, done.flagged) == (960, 70 - 960, True)
    assert done.ret.lines[0].flagged and done.ret.lines[0].entry_id is not None
    (entry,) = _reverses(db, customer)
    assert entry.flagged and entry.points == -960 and entry.balance_after == -890
    owed = ledger.open_clawbacks(db)
    assert [(c.entry.id, c.outstanding) for c in owed] == [(entry.id, 890)]
    assert ledger.balance(db, customer) == -890 and ledger.check_balances(db) == []
    again = _return(db, purchase, "R-1", (1, "1"))
    assert again.replayed and (again.balance, again.flagged) == (-890, True)


def test_a_purchase_of_another_store_is_not_found(
    db: Database, sale: tuple[int, int], stores: tuple[int, int]
) -> None:
    purchase, customer = sale
    with pytest.raises(NotFound, match=f"purchase {purchase}"):
        _return(db, purchase, "R-1", (1, "1"), scope=stores[1])
    with pytest.raises(NotFound):
        _return(db, purchase + 1000, "R-1", (1, "1"))
    assert _return(db, purchase, "R-1", (1, "1"), scope=stores[0]).points_reversed == 960


def test_a_purchase_that_earned_nothing_reverses_nothing(
    db: Database, stores: tuple[int, int]
) -> None:
    _programme(db, "0")
    purchase, customer, points = _purchase(db, stores[0])
    assert points == 0
    done = _return(db, purchase, "R-1", (1, "1"))
    assert done.ret.refund_amount == Decimal("640.00")
    assert (done.points_reversed, done.balance, done.flagged) == (0, 0, False)
    assert _reverses(db, customer) == [] and ledger.check_balances(db) == []


def test_a_return_of_an_order_paid_by_card_puts_the_money_back_on_the_card_once(
    db: Database, stores: tuple[int, int]
) -> None:
    customer = make_customer(db, phone="+8613812345678")
    with db.write() as s:
        row = Staff(name="老板", role=Role.OWNER.value)
        s.add(row)
        s.flush()
        owner = StaffMember(row.id, row.name, Role.OWNER, None, None, None)
    stored_value.save_rules(db, owner, [stored_value.BonusRule(Decimal(900), Decimal(100))])
    stored_value.top_up(db, customer, Decimal(900), payment_method="cash",
                                 idempotency_key="t")  # fmt: skip
    assert stored_value.balance(db, customer).bonus == Decimal(100)  # a spend takes 9:1
    assert stored_value.check_balances(db) == []
    stored_value.spend(db, customer, Decimal(1000), reference="CARD-1", idempotency_key="s")
    recorded = record_purchase(
        db,
        PurchaseInput(
            external_order_id="CARD-1", customer=CustomerRef(phone="+8613812345678"),
            purchased_at=datetime(2024, 1, 5, 6, 30, tzinfo=UTC), store_id=stores[0],
            lines=(LineInput("TEA", Decimal(1), Decimal("900.00")),
                   LineInput("CUP", Decimal(1), amount=Decimal("100.00"))),
            payment_method=PaymentMethod.STORED_VALUE,
        ),
        store_scope=None, now=NOW,
    )  # fmt: skip
    done = _return(db, recorded.purchase.id, "R-1", (2, "1"))
    assert done.stored_value_returned == Decimal("100.00")
    card = stored_value.balance(db, customer)
    assert (card.paid, card.bonus) == (Decimal("90.00"), Decimal("10.00"))
    again = _return(db, recorded.purchase.id, "R-1", (2, "1"))
    assert again.replayed and again.stored_value_returned == Decimal("100.00")
    assert stored_value.balance(db, customer).total == Decimal("100.00")
    assert stored_value.check_balances(db) == []


def test_a_return_of_an_order_paid_otherwise_leaves_the_card_alone(
    db: Database, stores: tuple[int, int]
) -> None:
    customer = make_customer(db, phone="+8613812345678")
    stored_value.top_up(db, customer, Decimal(500), payment_method="cash", idempotency_key="t")
    stored_value.spend(db, customer, Decimal(200), reference="O-1", idempotency_key="s")
    purchase, _, _ = _purchase(db, stores[0])
    done = _return(db, purchase, "R-1", (2, "1"))
    assert done.stored_value_returned == Decimal(0)
    assert stored_value.balance(db, customer).total == Decimal("300.00")


def test_points_that_paid_a_receipt_come_back_as_it_is_refunded_once(
    db: Database, stores: tuple[int, int]
) -> None:
    _programme(db, "0")  # no points earned: only the payment moves the balance
    customer = make_customer(db, phone="+8613812345678")
    ledger.earn(db, customer, 1000, source_type="adjustment", source_id=None,
                expires_on=date(2030, 6, 30), reason="gift", explanation={},
                idempotency_key=None)  # fmt: skip
    ledger.redeem(db, customer, 301, reason="pays O-1", idempotency_key="p",
                  actor_id=None, source_type=ledger.ORDER_PAYMENT, source_id="O-1")  # fmt: skip
    purchase, _, _ = _purchase(db, stores[0])  # 1380.00: 1280 tea + 100 cups
    assert ledger.balance(db, customer) == 699
    cup = _return(db, purchase, "R-1", (2, "3"))  # 100 of 1380 refunded: floor(301 × 100/1380)
    assert (cup.points_restored, cup.balance) == (21, 720)
    again = _return(db, purchase, "R-1", (2, "3"))
    assert again.replayed and again.points_restored == 21 and ledger.balance(db, customer) == 720
    rest = _return(db, purchase, "R-2", (1, "2"))  # all of it refunded: every point is back
    assert (rest.points_restored, ledger.balance(db, customer)) == (280, 1000)
    lots = ledger.lots(db, customer)
    assert {lot.expires_on for lot in lots if lot.kind == Kind.EARN} == {date(2030, 6, 30)}
    assert ledger.check_balances(db) == []
