"""Direct boot: kernel ELF into guest RAM, page tables, GDT, registers."""
