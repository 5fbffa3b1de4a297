"""Adapters behind the application's ports (payments, carriers). Chosen in ``infrastructure.bootstrap``."""
