"""Site administration: setting up communities and appointing their first committee."""
