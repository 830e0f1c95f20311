"""Answering aloud: text to speech, then a speaker or, with no sound card, WAV files."""
