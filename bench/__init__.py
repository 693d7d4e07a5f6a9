"""Benchmarks run by hand on a given machine (not part of the appliance): `python -m bench.inference`."""
