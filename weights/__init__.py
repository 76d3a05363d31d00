"""Shipped SRCNN weights (package data); see README.md here for how each file was trained."""
