"""Communities: districts, streets, communities/villages, grids, households, memberships and roles."""
