"""Who holds a lease: this process and thread, written on the leases it takes (a ledger connection's
refresh lease, a scheduled job's claim) and on the runs it starts, and whether a holder on this machine
is still alive.

No database here: the store writes and reads these owner ids, the scheduler names itself with one.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from datetime import timedelta

# How long a scheduled job's claim outlives its holder's last sign of life; the holder renews it every
# third of it while the job runs (`scheduler.claim_kept_alive`), so a dead holder elsewhere blocks minutes
JOB_LEASE = timedelta(minutes=15)


def lease_owner() -> str:
    """This process and thread, as written on a lease it holds: host:pid:thread:nonce."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}:{uuid.uuid4().hex[:8]}"


def holder_process(owner: str) -> str:
    """The lease holder as a person finds it: `process 4242 on host-1`."""
    host, pid = _process(owner)
    return f"process {pid} on {host}"


def same_process(owner: str, other: str) -> bool:
    """Whether two owner ids name one process (host and pid; thread and nonce set apart two leases it
    holds): a scheduled job's claim and the run it started."""
    return _process(owner) == _process(other)


def _process(owner: str) -> tuple[str, str]:
    host, _, rest = owner.partition(":")
    return host, rest.partition(":")[0]


def holder_is_dead(owner: str) -> bool:
    """True when the lease's holder ran on this machine and its process no longer exists.

    A holder on another machine cannot be checked from here: its lease runs out by itself.
    """
    host, pid = _process(owner)
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # it exists, as another user
    return False
