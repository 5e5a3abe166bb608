"""Persistence: tables, the engine, repositories and migrations.

Imports nothing else of the project.
"""
