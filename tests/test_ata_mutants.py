"""ATA model behaviours found by mutation testing (placeholder)."""
