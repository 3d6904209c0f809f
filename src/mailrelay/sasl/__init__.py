"""Client SASL for the smtp transport: mechanisms, credentials and their security options."""
