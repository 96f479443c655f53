"""Mailboxes that sign in with OAuth 2.0 (Google Workspace, Microsoft 365): connect, tokens."""
