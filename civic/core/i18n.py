"""Marker for strings stored untranslated and translated when shown (babel keyword N_)."""


def N_(message):
    """Mark `message` for extraction without translating it now."""
    return message
