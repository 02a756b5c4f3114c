"""Accounts: residents, staff, managed residents, sign-in, API tokens."""
