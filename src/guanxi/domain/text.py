"""Marking strings for translation outside the web layer.

Labels and explanations produced below the web layer (analytics segments, reasons) are plain
English templates marked with ``gettext_noop`` so ``make messages`` extracts them; the web layer
translates them at display time.
"""

from __future__ import annotations


def gettext_noop(message: str) -> str:
    """Mark a string for extraction without translating it here."""
    return message
