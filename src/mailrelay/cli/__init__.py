"""Layer 5: one module per command; each parses its arguments, calls the layers, prints, exits."""
