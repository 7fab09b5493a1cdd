"""``tokenrace bench``: scripted benchmarks (scenario -> runner -> output folder), ``compare`` and calibration.

    scenario.py   YAML -> validated Scenario (file:line: field errors); prompts.py: its prompts part
    runner.py     load shapes (closed-loop concurrency, Poisson rate), warmup, event-loop lag monitor
    summary.py    records -> aggregates per provider and load step (pure)
    report.py     the output folder: records.jsonl, summary.json/.csv, report.md, scenario.yaml, environment.json
    html.py       report.html (static inline SVG from svgplot.py; no script, works offline)
    progress.py   the rich progress display
    session.py    one run end to end (providers, client, Ctrl+C, files, run history)
    compare.py    two output folders -> what changed, thresholds for CI
    calibrate.py  the tool's own measurement error against the simulator's truth

Uses the engine only (never ``server`` or ``tui``).
"""
