"""Patrols: walking patrols and their recorded GPS tracks."""
