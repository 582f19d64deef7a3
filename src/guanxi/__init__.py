"""Guanxi (关系): customer relationship and loyalty system for shops."""

__version__ = "0.1.0"
