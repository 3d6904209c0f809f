"""qmgr service (being written)."""
