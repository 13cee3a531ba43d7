"""Benchmarks, run side by side with the reference tools (``make bench``); never timed inside the test suite."""
