"""Helpers shared by the browser tests and the browser benchmarks (not used by the product)."""
