"""Talking to vendors: wire types, the error tree, adapters and the failure classifier.

This package imports neither `policies` nor `router`.
"""
