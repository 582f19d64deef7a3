"""Know each customer's value: summaries pushed down to SQL, probabilistic CLV models (BG/NBD,
Pareto/NBD, Gamma-Gamma), RFM segments, 80/20, the loyalty ladder and loyalty types, cohorts, the
leaky bucket and retention economics.

The model and segment modules are pure functions over numpy arrays (no database); ``summary``
and ``activity`` are the only modules that query, and ``services.scoring`` ties them together.
"""
