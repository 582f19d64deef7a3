"""Load and fault trials against a real ``guanxi serve`` (issue 8, points 2 and 3)."""
