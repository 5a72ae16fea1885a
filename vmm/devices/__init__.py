"""Emulated PC devices, one per module, each behind the Bus device interface."""
