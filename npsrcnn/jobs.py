"""One function over many jobs, here or on a cluster: the contract every mapper keeps.

A mapper is called as ``mapper(function, jobs, context)`` and yields ``(job, result, error)`` once for
each job, as it finishes: ``result = function(job, context)``, or ``error``, the ``NpsrcnnError`` or
``MemoryError`` it raised (any other exception is a bug, and propagates). A job is a tuple whose first
item names it (an input file). The caller closes the mapper when it stops early, which cancels what
has not run. ``in_process`` runs the jobs here, in order; ``npsrcnn.cluster`` runs them on Dask
workers, the context sent to each worker once. ``batch`` and ``evaluate`` take either, so the work of
a file is written once and only where it runs changes.
"""

from npsrcnn.errors import NpsrcnnError


def in_process(function, jobs, context):
    """The mapper without a cluster: each job in turn, in this process, in the order given."""
    for job in jobs:
        try:
            result = function(job, context)
        except (NpsrcnnError, MemoryError) as error:
            yield job, None, error
            continue
        yield job, result, None


def message(job, error):
    """The one line a failed job reports: an ``NpsrcnnError``'s own, which names the file, or the
    file and what ran out."""
    return str(error) if isinstance(error, NpsrcnnError) else f"{job[0]}: out of memory"
