"""Benchmarks run against the local stack (``make bench``); not part of the test suite."""
