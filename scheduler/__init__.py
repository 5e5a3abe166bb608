"""Scheduled work: APScheduler setup and the jobs."""
