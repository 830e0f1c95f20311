"""Turns the audio of one command into words, with a confidence worth trusting."""
