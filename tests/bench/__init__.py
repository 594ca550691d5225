"""Benchmarks (`make bench` = `python -m tests.bench`): one module per part, each with
`run(args) -> dict`; see tests/bench/__main__.py."""
