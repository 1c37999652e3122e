"""Keep Presidio off the network.

Presidio's email recognizer validates domains with tldextract, whose default extractor downloads the
public suffix list on first use. An empty URL list makes tldextract use the snapshot bundled in its
wheel. The environment variable must be set before tldextract is imported, so this module is imported
first by ``redactline.policies``; ``use_offline_suffix_list`` also replaces the extractor in case
tldextract was imported earlier by someone else.
"""

from __future__ import annotations

import os

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")


def use_offline_suffix_list() -> None:
    import tldextract.tldextract as tld

    if tld.TLD_EXTRACTOR.suffix_list_urls:
        tld.TLD_EXTRACTOR = tld.TLDExtract(suffix_list_urls=(), cache_dir=None)
