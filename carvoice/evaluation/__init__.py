"""Measuring the agent on labelled recordings, with the daemon's own code path."""
