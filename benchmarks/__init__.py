"""The benchmarks: server-side (``make perf``, the echo floor, wrk), batch (``make batch-bench``),
the parts ``benchmark.py`` (the top-level client) runs, and the request payloads they send."""
