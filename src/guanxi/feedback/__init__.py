"""Listening to customers: complaints with SLA clocks, tokenised public links, surveys (NPS,
CSAT, expectation vs perception) and satisfaction vs loyalty.

- ``links``: tokenised, expiring, single-use links for customers (no login).
- ``complaints`` / ``sla``: intake, status flow, SLA clocks, escalation, recovery, reports.
- ``surveys``: survey templates, sending, responses, NPS and satisfaction reports.
"""
