"""redactline.pipelines."""
