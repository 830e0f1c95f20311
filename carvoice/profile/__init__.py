"""Vehicle profiles: TOML files an installer writes, loaded into one checked model."""
