"""redactline.enclave_sink."""
