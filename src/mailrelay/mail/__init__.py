"""The mail domain, pure: addresses, SMTP replies and the other values every stage shares."""
