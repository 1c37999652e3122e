"""Destinations: where redacted records go, each one object with a driver face and a Beam face.

* :mod:`.base` - the :class:`~.base.Destination` protocol (``preflight()`` on the driver, ``stage()``
  a Beam PTransform from prepared records to delivered / held / rejected / entities / destination
  counts), the shared :class:`~.base.JobContext` and the two error types;
* :mod:`.plain` - redacted records to ``--sink``;
* :mod:`.llm` - sanitized prompts to an external LLM API, answers re-identified locally;
* :mod:`.enclave` - redacted records sealed for an attested enclave, its results to ``--sink``;
* :mod:`.resolve` - ``--destination`` -> one of them.
"""
