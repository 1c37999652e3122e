"""redactline.policies."""
