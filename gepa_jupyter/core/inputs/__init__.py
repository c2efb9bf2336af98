"""What a user gives a run, checked before any model is called: records, prompts, templates, names, scorers, budget."""
