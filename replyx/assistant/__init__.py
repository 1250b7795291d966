"""Responders that answer visitors while a dialog is with the assistant."""
