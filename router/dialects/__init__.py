"""API dialects at the sidecar: one module each (parse, render, stream events, errors)."""
