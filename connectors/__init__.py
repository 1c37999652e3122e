"""redactline.connectors."""
