"""Time units of the model: one tick is one hour (``model.time`` in hours)."""

from __future__ import annotations

HOURS_PER_DAY = 24
DAYS_PER_WEEK = 7
HOURS_PER_WEEK = HOURS_PER_DAY * DAYS_PER_WEEK
