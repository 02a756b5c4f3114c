"""Neighbourhood deliberation (议事): topics, sessions, QR check-in, votes, veto, implementation."""
