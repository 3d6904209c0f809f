"""Layer 2: the configuration, exactly as Postfix has it.

main.cf, master.cf and the parameter table.
"""
