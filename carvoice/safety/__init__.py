"""Deciding whether a recognised command may move the car at all."""
