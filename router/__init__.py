"""Execution: the Router SDK, step execution (attempts, deadlines, hedging, streaming),
verification fan-out, shared state, metrics, the proxy and the CLI.

Installed as `crosswalk.router`; the public API is `from crosswalk import Router`.
"""
