"""Pure decisions: config schema, health and ejection, retry budget, compliance, ranking.

Nothing here does I/O or reads the clock: every time-dependent call takes `now`.
Imports only `providers`.
"""
