"""Scheduled jobs of the merit bank (registered with the worker when imported)."""
