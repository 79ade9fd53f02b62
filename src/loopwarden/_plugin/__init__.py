"""pytest adapters: one module per capability, each its own pytest11 entry point."""
