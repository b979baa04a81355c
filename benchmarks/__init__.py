"""Server-side benchmarks: the echo floor app, wrk scripts and ``python -m benchmarks.perf``."""
