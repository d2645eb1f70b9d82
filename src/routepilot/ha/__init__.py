"""routepilot leadership stage: active/standby on a fenced lease in PostgreSQL.

``Leadership`` (``leader.py``) runs the lease loop and tells the controller when
it becomes active or standby; ``PgLease`` (``lease.py``) is the lease's storage,
``MemoryLease`` (``fake.py``) its fake for tests.
"""

from routepilot.ha.fake import MemoryLease
from routepilot.ha.leader import ACTIVE, STANDBY, Leadership
from routepilot.ha.lease import LeaseBackend, LeaseState, Peer, PgLease

__all__ = [
    "ACTIVE",
    "STANDBY",
    "LeaseBackend",
    "LeaseState",
    "Leadership",
    "MemoryLease",
    "Peer",
    "PgLease",
]
