"""Character Management Service: Characters, actions, spoken words and the paraphrases of each."""
