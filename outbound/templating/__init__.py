"""Personalisation: render step templates from a prospect's fields, refusing blanks."""
