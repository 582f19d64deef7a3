"""Proactive care (主动沟通): the care calendar, follow-ups, commitments, the daily agenda and
personalised messages that respect consent.

- ``calendar``: festival dates for any year 1950–2100 and lunar/solar birthday rules (borax).
- ``holidays``: statutory holidays and adjusted working days (override file → chinesecalendar →
  a provisional fallback, the law's fixed days off, that the UI flags).
- ``occasions``: which occasions the shop observes, and customers' occasions in a date range.
- ``tasks`` / ``commitments``: follow-up visits (回访) from plans, promises (承诺) and outcomes.
- ``agenda``: who to contact today and why, ranked by customer value × urgency.
- ``templating`` / ``channels`` / ``outbox`` / ``links``: messages, at most once, with consent.
- ``campaigns`` / ``interests``: bulk messages with dry runs and holdouts; win-back uplift.
"""
