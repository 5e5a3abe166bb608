"""Slack surfaces: one module per surface, each with register(app, deps).

Thin: ack, then call the domain.
"""
