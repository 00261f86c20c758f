"""The workshop dashboard: rigid and flexible chains side by side, live, in the browser.

``viralchain dashboard`` starts it (:mod:`experiments.dashboard.command`). The parts:

- :mod:`~experiments.dashboard.levers` — the lever panel, discovered from the config groups
  and the schema (so a new policy shows up without touching the dashboard), turned into
  Hydra overrides and validated by :func:`sim.compose`;
- :mod:`~experiments.dashboard.session` — two models on the same seed, stepped together,
  with their tables, KPIs (and differences) and the "what happened" log, without any UI;
- :mod:`~experiments.dashboard.charts` — the six charts: each side's hourly series read
  from its running model, turned into Vega-Lite specs and data for a time window (around
  "now" or the whole run), drawn in the browser by a widget that is fed new data each step;
- :mod:`~experiments.dashboard.app` — the Solara page, laid out for a projector at 1280×720;
- :mod:`~experiments.dashboard.assets` — the page's browser files for rooms without internet.

Solara is used directly rather than Mesa's ``SolaraViz``: SolaraViz drives one model built
from keyword parameters, while the workshop needs two models advanced in lockstep, levers
composed through Hydra, and a KPI panel with differences.
"""
