"""Layer 2: Postfix lookup tables behind one small interface, and Postfix's lookup order."""
