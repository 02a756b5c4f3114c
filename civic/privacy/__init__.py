"""Privacy and operations: GPS retention, a resident's data download, account closure, community export."""
