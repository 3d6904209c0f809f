"""qmgr(8): moves mail from incoming to active, schedules deliveries, retries and expiry."""
