"""bounce(8): delivery status notifications (RFC 3464), as Postfix writes them."""
