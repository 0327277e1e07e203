"""Benchmarks: slow, measured runs kept out of the test suite (`make bench`)."""
