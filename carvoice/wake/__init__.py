"""Listening for the wake phrase in the continuous audio stream."""
