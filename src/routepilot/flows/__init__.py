"""routepilot flows stage: NetFlow v5/v9, IPFIX and sFlow v5 in, traffic per (prefix, provider) out.

The top-level configuration composes this stage's config model, so it is
imported first: importing ``routepilot.flows.config`` on its own would
otherwise meet a half-initialised ``routepilot.config``.
"""

from routepilot import config as _config  # noqa: F401
