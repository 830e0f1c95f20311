"""A simulated demo car for testers: status broadcasts, commands applied, OBD-II answered."""
