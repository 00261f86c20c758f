"""The ``events`` table told in plain words: "what happened" for a workshop or a notebook.

:func:`describe` turns one event row into a sentence a manager can read aloud ("the live
stream starts", "stock-out at warehouse central", "rush order placed"); :func:`narrate` does
it for a whole table, oldest first, with the time written as "day 8, 20:00" and a category
that tells content, supply and trouble apart (the dashboard colours its log by it).

Event kinds nobody taught this module yet still get a sentence (the kind, who and what), so
a new kind added to the model never breaks the log.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from sim.clock import HOURS_PER_DAY

# category of each kind: content (demand side), supply (decisions and flows), trouble
# (something a manager should worry about), recovery (the trouble is over)
CATEGORIES: dict[str, str] = {
    "post": "content",
    "livestream_start": "content",
    "livestream_end": "content",
    "presale_open": "content",
    "presale_close": "content",
    "production_order": "supply",
    "rush_order": "supply",
    "production_complete": "supply",
    "changeover": "supply",
    "transfer": "supply",
    "material_order": "supply",
    "pilot_batch": "supply",
    "dynamic_task": "content",
    "opportunity_graded": "trouble",
    "opportunity_response": "supply",
    "design_scaled": "supply",
    "design_stopped": "supply",
    "hotspot_signal": "trouble",
    "stockout_start": "trouble",
    "stockout_end": "recovery",
    "cancellations": "trouble",
    "outage_start": "trouble",
    "outage_end": "recovery",
}


def format_hour(hour: float) -> str:
    """An hour of the run as "day D, HH:00" (day 0 starts at hour 0)."""
    h = int(hour)
    return f"day {h // HOURS_PER_DAY}, {h % HOURS_PER_DAY:02d}:00"


def _n(x: Any) -> str:
    """A quantity as a whole number with thousands separators."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(v):
        return "?"
    return f"{v:,.0f}"


def _sku(sku: Any) -> str:
    s = str(sku or "").strip()
    if not s:
        return "the products"
    return " and ".join(s.split(","))


def _post(e: Mapping[str, Any]) -> str:
    fee = float(e.get("value") or 0)
    paid = f" (fee {_n(fee)})" if fee > 0 else ""
    return f"{e['actor']} posts a short video about {_sku(e.get('sku'))}{paid}."


def _live_start(e: Mapping[str, Any]) -> str:
    detail = str(e.get("detail") or "")
    hours = ""
    if " for " in detail:
        hours = " for " + detail.split(" for ", 1)[1].replace("h", " hours")
    return f"LIVE: {e['actor']} starts a live stream selling {_sku(e.get('sku'))}{hours}."


def _live_end(e: Mapping[str, Any]) -> str:
    views = float(e.get("quantity") or 0)
    seen = f", after {_n(views)} viewers joined" if views > 0 else ""
    return f"{e['actor']}'s live stream ends{seen}."


def _factory_of(detail: str) -> str:
    """The factory named at the start of a production event's detail ("core job 3")."""
    head = detail.split(" job ", 1)[0].strip()
    return head if head and head != detail.strip() else ""


def _production_order(e: Mapping[str, Any], rush: bool = False) -> str:
    detail = str(e.get("detail") or "")
    fac = _factory_of(detail)
    where = f" from factory {fac}" if fac else ""
    quick = " (quick-response)" if "quick" in detail else ""
    what = "places a RUSH order" if rush else "orders production"
    return (
        f"{e['actor']} {what}: {_n(e.get('quantity'))} units of {_sku(e.get('sku'))}{where}{quick}."
    )


def _production_complete(e: Mapping[str, Any]) -> str:
    return (
        f"Factory {e['actor']} finishes a batch of {_n(e.get('quantity'))} units of "
        f"{_sku(e.get('sku'))}; it now ships to the warehouses."
    )


def _changeover(e: Mapping[str, Any]) -> str:
    return f"Factory {e['actor']} stops its line to change over to {_sku(e.get('sku'))}."


def _where(e: Mapping[str, Any]) -> str:
    detail = str(e.get("detail") or "")
    if detail.startswith("network"):
        return "in every warehouse"
    return f"at warehouse {e['actor']}"


def _duration(detail: str) -> str:
    """The "12h" part of a stock-out end's detail, in words."""
    for part in detail.split(","):
        p = part.strip()
        if p.endswith("h") and p[:-1].isdigit():
            return f" after {int(p[:-1])} hours"
    return ""


def _stockout_start(e: Mapping[str, Any]) -> str:
    if str(e.get("detail") or "").startswith("network"):
        return f"SOLD OUT: {_sku(e.get('sku'))} is out of stock in every warehouse."
    return f"Stock-out of {_sku(e.get('sku'))} at warehouse {e['actor']}."


def _stockout_end(e: Mapping[str, Any]) -> str:
    dur = _duration(str(e.get("detail") or ""))
    return f"{_sku(e.get('sku'))} is back in stock {_where(e)}{dur}."


def _hotspot(e: Mapping[str, Any]) -> str:
    return (
        f"Hot spot: {_n(e.get('quantity'))} units of {_sku(e.get('sku'))} wanted in the last "
        f"24 hours, as much as or more than the stock left. {e['actor']} should react."
    )


def _cancellations(e: Mapping[str, Any]) -> str:
    refund = float(e.get("value") or 0)
    money = f", refunding {_n(refund)}" if refund > 0 else ""
    return f"Buyers tired of waiting cancel {_n(e.get('quantity'))} units{money}."


def _presale(e: Mapping[str, Any]) -> str:
    return f"Pre-sale opens for {_sku(e.get('sku'))}: buyers can order before the stock exists."


def _presale_close(e: Mapping[str, Any]) -> str:
    return f"Pre-sale closes for {_sku(e.get('sku'))}."


def _in_brackets(e: Mapping[str, Any]) -> str:
    """The event's detail as `` (detail)``, or nothing."""
    detail = str(e.get("detail") or "").strip()
    return f" ({detail})" if detail else ""


def _outage_start(e: Mapping[str, Any]) -> str:
    why = _in_brackets(e)
    return f"DISRUPTION: {e['actor']} goes down{why}."


def _outage_end(e: Mapping[str, Any]) -> str:
    return f"{e['actor']} is working again."


def _transfer(e: Mapping[str, Any]) -> str:
    route = _in_brackets(e)
    return f"{e['actor']} moves {_n(e.get('quantity'))} units of {_sku(e.get('sku'))}{route}."


def _material_order(e: Mapping[str, Any]) -> str:
    when = _in_brackets(e)
    return f"Factory {e['actor']} orders materials for {_n(e.get('quantity'))} units{when}."


def _pilot_batch(e: Mapping[str, Any]) -> str:
    fac = _factory_of(str(e.get("detail") or ""))
    where = f" at factory {fac}" if fac else ""
    return (
        f"{e['actor']} makes a small pilot batch: {_n(e.get('quantity'))} units of "
        f"{_sku(e.get('sku'))}{where}, to test the market first."
    )


def _dynamic_task(e: Mapping[str, Any]) -> str:
    detail = str(e.get("detail") or "").strip()
    who = f": {detail}" if detail else ""
    return f"{e['actor']} books an extra post about {_sku(e.get('sku'))} to ride the wave{who}."


def _graded(e: Mapping[str, Any]) -> str:
    detail = str(e.get("detail") or "").strip()
    grade = detail.split(":", 1)[0] if detail.startswith("grade") else "graded"
    return f"Hot spot {grade} for {_sku(e.get('sku'))} ({detail.split(':', 1)[-1].strip()})."


def _response(e: Mapping[str, Any]) -> str:
    detail = str(e.get("detail") or "").strip()
    return f"{e['actor']} responds to the hot spot on {_sku(e.get('sku'))}: {detail}."


def _design_scaled(e: Mapping[str, Any]) -> str:
    return (
        f"Test won: {e['actor']} scales up design {_sku(e.get('sku'))} "
        f"({_n(e.get('quantity'))} units; {e.get('detail') or ''})."
    )


def _design_stopped(e: Mapping[str, Any]) -> str:
    return f"Test lost: {e['actor']} stops design {_sku(e.get('sku'))} ({e.get('detail') or ''})."


def _generic(e: Mapping[str, Any]) -> str:
    kind = str(e.get("kind") or "event").replace("_", " ")
    parts = [f"{kind.capitalize()}: {e.get('actor') or 'someone'}"]
    sku = str(e.get("sku") or "").strip()
    if sku:
        parts.append(f"for {_sku(sku)}")
    qty = e.get("quantity")
    if qty is not None and not (isinstance(qty, float) and math.isnan(qty)) and float(qty) != 0:
        parts.append(f"({_n(qty)} units)")
    detail = str(e.get("detail") or "").strip()
    text = " ".join(parts)
    return f"{text} — {detail}." if detail else f"{text}."


SENTENCES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "post": _post,
    "livestream_start": _live_start,
    "livestream_end": _live_end,
    "production_order": _production_order,
    "rush_order": lambda e: _production_order(e, rush=True),
    "production_complete": _production_complete,
    "changeover": _changeover,
    "stockout_start": _stockout_start,
    "stockout_end": _stockout_end,
    "hotspot_signal": _hotspot,
    "cancellations": _cancellations,
    "presale_open": _presale,
    "presale_close": _presale_close,
    "outage_start": _outage_start,
    "outage_end": _outage_end,
    "transfer": _transfer,
    "material_order": _material_order,
    "pilot_batch": _pilot_batch,
    "dynamic_task": _dynamic_task,
    "opportunity_graded": _graded,
    "opportunity_response": _response,
    "design_scaled": _design_scaled,
    "design_stopped": _design_stopped,
}


def describe(event: Mapping[str, Any]) -> str:
    """One event (a row of the ``events`` table, as a mapping) in plain words.

    Args:
        event: needs ``kind`` and ``actor``; ``sku``, ``quantity``, ``value`` and ``detail``
            are used when present.

    Returns:
        a sentence; kinds without a dedicated sentence get a generic one.
    """
    fn = SENTENCES.get(str(event.get("kind")), _generic)
    try:
        return fn(event)
    except (KeyError, TypeError, ValueError):  # an odd row: never break the log
        return _generic(event)


def category(kind: str) -> str:
    """``content``, ``supply``, ``trouble``, ``recovery`` or ``other``."""
    return CATEGORIES.get(kind, "other")


def narrate(events: pd.DataFrame, kinds: set[str] | None = None) -> pd.DataFrame:
    """The events table as a plain-words log.

    Args:
        events: rows in the ``events`` schema.
        kinds: keep only these kinds (all when None).

    Returns:
        a DataFrame sorted by time (stable: the model's order within an hour) with columns
        ``t_hours``, ``when`` ("day 8, 20:00"), ``kind``, ``category`` and ``text``.
    """
    cols = ["t_hours", "when", "kind", "category", "text"]
    if events is None or len(events) == 0:
        return pd.DataFrame(
            {c: pd.Series(dtype="int64" if c == "t_hours" else "str") for c in cols}
        )
    ev = events if kinds is None else events[events["kind"].isin(sorted(kinds))]
    ev = ev.sort_values("t_hours", kind="stable")
    records = ev.to_dict("records")
    out = pd.DataFrame(
        {
            "t_hours": [int(r["t_hours"]) for r in records],
            "when": [format_hour(r["t_hours"]) for r in records],
            "kind": [str(r["kind"]) for r in records],
            "category": [category(str(r["kind"])) for r in records],
            "text": [describe(r) for r in records],
        },
        columns=cols,
    )
    out["t_hours"] = out["t_hours"].astype("int64")
    return out.reset_index(drop=True)
