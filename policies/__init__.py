"""redactline.policies: the policy language and the redaction engine. Usable without Beam:

from redactline.policies import load_policy
engine = load_policy("policy.yaml").engine()
engine.redact_text("Call Jane Doe at 212-555-0100").text
"""

from . import offline as _offline  # noqa: F401  (must run before tldextract is imported)
from .loader import Issue, PolicyError
from .log_hygiene import quiet_text_loggers
from .policy import Policy, PolicyIdentity, load_policy

quiet_text_loggers()

__all__ = ["Issue", "Policy", "PolicyError", "PolicyIdentity", "load_policy"]
