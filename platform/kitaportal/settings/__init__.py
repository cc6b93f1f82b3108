"""Settings: base (shared), dev (make demo), test (make test), production (no secret defaults)."""
