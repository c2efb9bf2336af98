"""What a run writes to MLflow and how: candidates as mlflow lays them out, the ordered writer, the prompt registry,
sqlite stores, artifacts read back."""
