"""Durable store: see base.py for the interface."""
