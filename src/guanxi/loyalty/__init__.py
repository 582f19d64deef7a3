"""Financial bonds: the points ledger and the earning rules (more of the loyalty programme to come).

``rules`` computes how many points a purchase earns (pure, rules as data); ``ledger`` keeps the
points as an append-only ledger with FIFO expiry, safe under concurrent use.
"""
