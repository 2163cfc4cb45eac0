"""Benchmarks for wlnet: scripts that print ratios measured in one run; nothing asserts a time."""
