"""Hostile input: API fuzzing, oversized and malformed input, escaping, tokens, headers."""
