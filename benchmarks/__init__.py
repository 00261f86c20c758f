"""viralchain's benchmarks (issue 7): ``python -m benchmarks`` or ``make bench``.

Measures, side by side in one invocation, the columnar consumers against the per-agent
reference, scaling with the market size, the flagship at a million consumers (time, memory,
time per hour by phase), a sweep with 1 and 2 workers, writing and reading a sweep's outputs,
a workshop-size run, and the workshop dashboard's step in Chromium
(:mod:`benchmarks.dashboard`). See docs/performance.md for what each measures and the latest
figures. Modules: :mod:`benchmarks.suite` (the benchmarks, sizes and targets),
:mod:`benchmarks.worker` (one measurement in a fresh process), :mod:`benchmarks.profiler`
(time per phase).
"""
