"""redactline.enclave_sink.server."""
