"""RadNLI tasks: zero-shot text similarity and accuracy after fine-tuning on MedNLI."""
