"""The one HTTP client for every request Flowsite sends to a user-supplied URL.

Moved to a package; until it is split into one module per concept, the package is its transport
module (so `monkeypatch.setattr(outbound, "resolve_host", ...)` keeps reaching the code that resolves).
"""

import sys

from flowsite.outbound import transport

sys.modules[__name__] = transport
