"""The deterministic no-show model: a transparent points formula on the logistic scale.

Every signal adds points to a log-odds value, and the logistic function turns it into a
probability, so each contribution can be read off the report ("+2.4 for two past no-shows"):

================================  ==========================================================
signal                            points (log-odds)
================================  ==========================================================
base (every appointment)          -2.2   (about a 10% no-show rate for a typical booking)
each past no-show (at most 3)     +1.2
first visit (nothing attended)    +0.5
loyal client (5+ attended)        -0.5
lead time < 48 h                  -0.3   (booked recently: the need is fresh)
lead time 7 to 21 days            +0.5
lead time > 21 days               +0.9   (booked long ago: plans change, people forget)
already confirmed                 -2.0
================================  ==========================================================

``probability = 1 / (1 + exp(-points))``. The LLM's reading of the free-text notes may then move
it by at most ±0.2 (``NotesReading.adjustment`` is validated to that range), and the result is
clamped to [0, 1]. Which path an appointment takes is decided here by code, from the final score
and the calendar status, never by model text.

This module imports no LLM code: it is unit-tested with a table of cases.
"""

from __future__ import annotations

import math

from functions.no_show.models import AppointmentSignals, Route

BASE = -2.2
PER_NO_SHOW = 1.2
MAX_COUNTED_NO_SHOWS = 3
FIRST_VISIT = 0.5
LOYAL_CLIENT = -0.5
LOYAL_AFTER = 5
SHORT_LEAD = -0.3
MEDIUM_LEAD = 0.5
LONG_LEAD = 0.9
CONFIRMED = -2.0
MAX_ADJUSTMENT = 0.2


def points(signals: AppointmentSignals) -> dict[str, float]:
    """Each signal's contribution to the log-odds (only those that apply)."""
    found: dict[str, float] = {"base": BASE}
    counted = min(signals.past_no_shows, MAX_COUNTED_NO_SHOWS)
    if counted:
        found["past_no_shows"] = round(PER_NO_SHOW * counted, 4)
    if signals.past_attended == 0:
        found["first_visit"] = FIRST_VISIT
    elif signals.past_attended >= LOYAL_AFTER:
        found["loyal_client"] = LOYAL_CLIENT
    lead = signals.lead_time_hours
    if lead is not None:
        if lead < 48:
            found["short_lead_time"] = SHORT_LEAD
        elif 7 * 24 <= lead <= 21 * 24:
            found["medium_lead_time"] = MEDIUM_LEAD
        elif lead > 21 * 24:
            found["long_lead_time"] = LONG_LEAD
    if signals.confirmed:
        found["confirmed"] = CONFIRMED
    return found


def base_probability(signals: AppointmentSignals) -> float:
    """The deterministic no-show probability (logistic of the summed points), 4 decimals."""
    logit = sum(points(signals).values())
    return round(1.0 / (1.0 + math.exp(-logit)), 4)


def final_score(base: float, adjustment: float) -> float:
    """Base probability moved by the (bounded) LLM adjustment, clamped to [0, 1], 3 decimals."""
    if not -MAX_ADJUSTMENT <= adjustment <= MAX_ADJUSTMENT or math.isnan(adjustment):
        raise ValueError(f"adjustment {adjustment} outside [-{MAX_ADJUSTMENT}, {MAX_ADJUSTMENT}]")
    return round(min(1.0, max(0.0, base + adjustment)), 3)


def route_for(score: float, *, confirmed: bool, threshold: float) -> Route:
    """High risk escalates to the manager (even if confirmed); otherwise confirm unless already done."""
    if score >= threshold:
        return "escalate"
    return "already_confirmed" if confirmed else "confirm"
