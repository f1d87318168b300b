"""Central Sequence Service: the order of every part of a story, from one gapless counter."""
