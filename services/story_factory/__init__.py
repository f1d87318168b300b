"""Story Factory Service: Assembles full stories from the other services; owns no story data."""
