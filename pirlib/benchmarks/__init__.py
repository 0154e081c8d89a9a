"""Benchmark parts: timing and memory helpers, the measured configurations, training and embedding
throughput, hot spots against naive references, and the report. `pirlib.benchmarks.suite` runs them."""
