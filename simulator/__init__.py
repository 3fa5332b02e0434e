"""Development tools that run outside Home Assistant (simulated hardware)."""
