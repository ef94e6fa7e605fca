"""How the data workers (curation, packing) start: forked from the caller where that is safe.

A worker started by ``forkserver`` or ``spawn`` first imports the caller's main module again,
for every worker of every run (about half a second for a script that imports ``datasets`` at
its top); a forked one starts at once with what the caller has loaded. Forking is safe only
where it is the platform's own default and raises no warning (Linux, Python before 3.12), from
a process with no other Python thread (a lock held by one stays locked in the child for ever;
a notebook kernel has several) and without torch loaded (its thread pools do not survive a
fork). Elsewhere the callers fall back to ``forkserver`` or ``spawn``; the output is the same.
"""

from __future__ import annotations

import gc
import multiprocessing
import sys
import threading


def fork_is_safe() -> bool:
    """Whether worker processes may be forked from this one directly."""
    return (sys.platform.startswith("linux") and sys.version_info < (3, 12)
            and "fork" in multiprocessing.get_all_start_methods()
            and threading.active_count() == 1 and "torch" not in sys.modules)


def start_pool(context, processes: int, initializer=None, initargs: tuple = ()):
    """``context.Pool(processes, initializer, initargs)``, with forked workers kept light.

    A forked worker starts with the caller's objects frozen out of the garbage collector
    (``gc.freeze``, as CPython's documentation advises before a fork): a collection in the
    worker then does not walk the caller's whole heap, touching (and so copying) its pages.
    The caller's objects are unfrozen once the workers exist, unless it had frozen some itself.
    """
    freeze = context.get_start_method() == "fork" and gc.get_freeze_count() == 0
    if freeze:
        gc.freeze()
    try:
        return context.Pool(processes, initializer=initializer, initargs=initargs)
    finally:
        if freeze:
            gc.unfreeze()
