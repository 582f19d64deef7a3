"""Mixed POS traffic from concurrent clients, their log of acknowledged answers, and figures.

Each client is a thread with its own keep-alive HTTP connection. An operation is 70 %
``POST /api/v1/purchases``, 25 % ``POST /api/v1/customers/{id}/points/redeem`` and 5 % a
points adjustment; the API has no manual adjustment endpoint, so the adjustment is the real
operation closest to one: a return (``POST /api/v1/purchases/{id}/returns``) of one line of a
purchase the client made, which takes back the points it earned. 20 % of all operations are
on one hot customer. Every write carries an ``Idempotency-Key``; a connection error, a 503
or a 409 ``idempotency_key_in_flight`` is retried with the same key and body until the
operation gets a final answer or ``give_up_s`` passes. The client logs what each final answer
said (points earned, redeemed, reversed), which is all ``expected_balances`` replays.
"""

from __future__ import annotations

import http.client
import json
import random
import statistics
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.stress.shop import Shop

KINDS = ("purchase", "redeem", "adjust")
WEIGHTS = (70, 25, 5)
HOT_SHARE = 0.2
RETRIED = {503}
LOCKED = "database is locked"


@dataclass
class Acked:
    """One operation with its final answer."""

    kind: str
    key: str
    customer_id: int
    status: int
    points: int  # the change to the customer's balance the answer reports (0 if refused)
    latency_ms: float
    attempts: int
    finished_at: float
    purchase_id: int | None = None
    order_id: str | None = None


@dataclass
class Tally:
    """Everything the clients saw, shared by the threads (append-only lists and counters)."""

    acked: list[Acked] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)  # 5xx other than a clean 503
    client_errors: list[str] = field(default_factory=list)  # unexpected 4xx
    locked: list[str] = field(default_factory=list)  # "database is locked" in any answer
    unfinished: list[str] = field(default_factory=list)  # no final answer before giving up
    hung: list[str] = field(default_factory=list)  # an attempt got no answer in the timeout
    retries: Counter[str] = field(default_factory=Counter)  # why attempts were repeated
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, what: str, item: Any) -> None:
        with self.lock:
            getattr(self, what).append(item)

    def absorb(self, other: Tally) -> None:
        """Add another phase's answers (the checks replay every phase so far)."""
        with self.lock:
            for name in ("acked", "server_errors", "client_errors", "locked", "unfinished",
                         "hung"):  # fmt: skip
                getattr(self, name).extend(getattr(other, name))
            self.retries.update(other.retries)

    def retry(self, why: str) -> None:
        with self.lock:
            self.retries[why] += 1


class Client:
    """One POS till: sends operations until the deadline; retries each until it is answered."""

    def __init__(self, shop: Shop, base: str, tally: Tally, seed: int, give_up_s: float,
                 request_timeout_s: float = 30.0) -> None:  # fmt: skip
        self.shop, self.tally, self.give_up_s = shop, tally, give_up_s
        host, port = base.removeprefix("http://").split(":")
        self.address = (host, int(port))
        self.timeout = request_timeout_s
        self.random = random.Random(seed)
        self.conn: http.client.HTTPConnection | None = None
        self.mine: list[Acked] = []  # purchases this client made, not yet returned

    def run(self, until: float) -> None:
        while time.monotonic() < until:
            self.one()
        if self.conn is not None:
            self.conn.close()

    def _customer(self) -> int:
        ids = self.shop.customer_ids
        if self.random.random() < HOT_SHARE or len(ids) == 1:
            return ids[0]
        return self.random.choice(ids[1:])

    def one(self) -> None:
        kind = self.random.choices(KINDS, WEIGHTS)[0]
        if kind == "adjust" and not self.mine:
            kind = "purchase"
        key = str(uuid.uuid4())
        if kind == "purchase":
            customer = self._customer()
            price = self.random.randint(10, 300)
            body: dict[str, Any] = {
                "store_code": self.shop.store_code, "external_order_id": f"L-{key}",
                "customer": {"id": customer}, "purchased_at": datetime.now(UTC).isoformat(),
                "lines": [{"sku": f"SKU-{self.random.randint(1, 20)}", "quantity": "1",
                           "unit_price": f"{price}.00"}],
            }  # fmt: skip
            path = "/api/v1/purchases"
        elif kind == "redeem":
            customer = self._customer()
            body = {"points": self.random.randint(1, 60), "reason": "load test"}
            path = f"/api/v1/customers/{customer}/points/redeem"
        else:
            bought = self.mine.pop(self.random.randrange(len(self.mine)))
            customer = bought.customer_id
            body = {"external_return_id": f"R-{key}", "lines": [{"line_no": 1, "quantity": "1"}]}
            path = f"/api/v1/purchases/{bought.purchase_id}/returns"
        self._send(kind, key, customer, path, body)

    def _send(self, kind: str, key: str, customer: int, path: str, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {self.shop.token}", "Idempotency-Key": key,
                   "Content-Type": "application/json"}  # fmt: skip
        started = time.monotonic()
        attempts = 0
        while time.monotonic() - started < self.give_up_s:
            attempts += 1
            try:
                status, answer, retry_after = self._post(path, payload, headers)
            except (OSError, http.client.HTTPException) as exc:
                self._drop()
                if isinstance(exc, TimeoutError):
                    self.tally.add("hung", f"{kind} {key}: no answer in {self.timeout:.0f} s")
                self.tally.retry(f"connection: {exc.__class__.__name__}")
                time.sleep(0.05 + self.random.random() * 0.1)
                continue
            text = answer.decode(errors="replace")
            if LOCKED in text:
                self.tally.add("locked", f"{status} {path}: {text[:200]}")
            code = _code(text)
            if status in RETRIED or code == "idempotency_key_in_flight":
                if status == 503 and retry_after is None:
                    self.tally.add("server_errors", f"503 without Retry-After {path}: {text[:200]}")
                self.tally.retry(f"{status} {code}")
                time.sleep(min(retry_after or 0.2, 0.5) * (0.5 + self.random.random()))
                continue
            self._final(kind, key, customer, status, text, started, attempts, path)
            return
        self.tally.add("unfinished", f"{kind} {key} after {attempts} attempts")

    def _post(self, path: str, payload: bytes, headers: dict[str, str]
              ) -> tuple[int, bytes, float | None]:  # fmt: skip
        if self.conn is None:
            self.conn = http.client.HTTPConnection(*self.address, timeout=self.timeout)
        self.conn.request("POST", path, payload, headers)
        response = self.conn.getresponse()
        answer = response.read()
        retry = response.getheader("Retry-After")
        if response.getheader("Connection", "").lower() == "close":
            self._drop()
        return response.status, answer, float(retry) if retry else None

    def _drop(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _final(self, kind: str, key: str, customer: int, status: int, text: str,
               started: float, attempts: int, path: str) -> None:  # fmt: skip
        now = time.monotonic()
        done = Acked(kind, key, customer, status, 0, (now - started) * 1000, attempts, now)
        if status >= 500:
            self.tally.add("server_errors", f"{status} {path}: {text[:300]}")
            return
        data = json.loads(text) if text else {}
        if status in (200, 201):
            if kind == "purchase":
                done.points = int((data.get("points") or {}).get("earned") or 0)
                done.purchase_id, done.order_id = int(data["id"]), data["external_order_id"]
                self.mine.append(done)
            elif kind == "redeem":
                done.points = -int(data["points"])
            else:
                done.points = int(data["points"]["restored"]) - int(data["points"]["reversed"])
        elif not (kind == "redeem" and _code(text) == "insufficient_points"):
            self.tally.add("client_errors", f"{status} {path}: {text[:300]}")
            return
        self.tally.add("acked", done)


def _code(text: str) -> str | None:
    try:
        error = json.loads(text).get("error")
    except (ValueError, AttributeError):
        return None
    return error.get("code") if isinstance(error, dict) else None


def run_clients(shop: Shop, base: str, clients: int, seconds: float, *, give_up_s: float = 60.0,
                seed: int = 8) -> tuple[Tally, float]:  # fmt: skip
    """``clients`` threads for ``seconds``; the tally and the wall time until all finished."""
    tally = Tally()
    until = time.monotonic() + seconds
    threads = [threading.Thread(target=Client(shop, base, tally, seed * 1000 + n,
                                              give_up_s).run, args=(until,), daemon=True)
               for n in range(clients)]  # fmt: skip
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return tally, time.monotonic() - started


def expected_balances(tally: Tally) -> dict[int, int]:
    """The independent replay: each customer's change of balance from the acknowledged
    answers (the opening balance comes on top)."""
    balances: Counter[int] = Counter()
    for op in tally.acked:
        balances[op.customer_id] += op.points
    return dict(balances)


def figures(tally: Tally, seconds: float) -> dict[str, Any]:
    """Per operation: count, ops/s, p50/p95/p99 latency (ms, retries included), refusals."""
    out: dict[str, Any] = {}
    for kind in KINDS:
        done = [op for op in tally.acked if op.kind == kind]
        lat = sorted(op.latency_ms for op in done)
        out[kind] = {
            "count": len(done),
            "ops_per_s": round(len(done) / seconds, 1) if seconds else 0.0,
            "p50_ms": _pct(lat, 50), "p95_ms": _pct(lat, 95), "p99_ms": _pct(lat, 99),
            "refused": sum(1 for op in done if op.status >= 400),
            "retried": sum(1 for op in done if op.attempts > 1),
        }  # fmt: skip
    everything = sorted(op.latency_ms for op in tally.acked)
    out["all"] = {"count": len(everything),
                  "ops_per_s": round(len(everything) / seconds, 1) if seconds else 0.0,
                  "p50_ms": _pct(everything, 50), "p95_ms": _pct(everything, 95),
                  "p99_ms": _pct(everything, 99)}  # fmt: skip
    out["errors"] = {"server": len(tally.server_errors), "client": len(tally.client_errors),
                     "locked": len(tally.locked), "unfinished": len(tally.unfinished),
                     "hung": len(tally.hung)}  # fmt: skip
    out["retries"] = dict(tally.retries)
    return out


def _pct(values: list[float], p: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 1)
    return round(statistics.quantiles(values, n=100, method="inclusive")[p - 1], 1)
