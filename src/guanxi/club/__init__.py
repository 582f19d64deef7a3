"""Belonging: clubs and member events (social bonds), customised service plans (structural
bonds), and the three bonds that hold each customer.

- ``clubs`` / ``events``: membership rules, events with capacity, RSVP, waitlist, check-in.
- ``service_plans``: customised services with dated steps.
- ``bonds``: financial, social and structural bonds per customer, and the report.
"""
