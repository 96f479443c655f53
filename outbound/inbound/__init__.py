"""Inbound mail: classify replies, auto-replies and bounces, match them to sequences, act."""
