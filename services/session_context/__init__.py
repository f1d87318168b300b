"""Session and Context Service: User sessions and the narrative context carried between interactions."""
