"""The business of order management: aggregates, value objects and the rules between them.

Nothing here does I/O or knows about HTTP, SQL or the event store's tables.
"""
