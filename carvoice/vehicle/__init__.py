"""The vehicle as the agent knows it: live state from the bus and OBD-II, with its age."""
