"""Routers by area; each route declares its permission with ``requires``."""
