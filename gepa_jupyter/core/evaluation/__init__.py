"""Scoring a candidate on rows: the evaluator, the programs it runs, the prompt swap, each row's steps, the workers."""
