"""The merit bank (功德银行): a double-entry, append-only point ledger.

Other parts (claims, shop, patrols, deliberation) move points only through
civic.ledger.service; the ledger knows nothing of them.
"""
