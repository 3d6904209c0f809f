"""qmgr scheduling (being written)."""
