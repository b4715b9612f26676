"""Audit trail: hash chain, signed checkpoints, export."""
