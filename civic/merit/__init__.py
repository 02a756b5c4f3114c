"""Merit claims: the rule catalogue, claims and committee review, the public notice (积分公示)."""
