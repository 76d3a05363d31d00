"""Past one machine: npsrcnn's per-file work on a Dask cluster (``pip install 'npsrcnn[cluster]'``).

``npsrcnn upscale --scheduler ADDRESS`` and ``npsrcnn evaluate --scheduler ADDRESS`` hand the work of
each file (``batch.upscale_file``, ``evaluate.score_image``) to Dask workers; the plan, the skipping,
the temporary names, the one line per bad file, the progress bar and the summary stay where they are
(``batch``, ``evaluate``). Dask does the scheduling, the transfers and the retries; this module only
connects, sends each worker what it needs once, and turns Dask's failures into npsrcnn's one line.

- ``ADDRESS``: ``tcp://HOST:PORT`` of a running ``dask scheduler``, or ``local:N``: N worker processes
  started here, one thread each.
- The run's context (an ``Upscaler``: the model's arrays and the options) goes to every worker once,
  as a worker plugin, also to workers that join or restart mid-run; each builds the model and runs the
  kernels on a few pixels when it gets it (numba compiles them, or loads them from its cache).
- A worker's kernels and BLAS use its ``nthreads``, its share of its machine, and its jobs take turns
  at them (``chunked.kernel_turn``): workers on one machine do not fight for the cores.
- Inputs and outputs live on a filesystem every worker sees at the same paths; relative paths are
  sent made absolute, and an error names the file as the user gave it.
- A worker lost mid-file: Dask runs the file again elsewhere; what it was writing is a temporary,
  removed at the end. The scheduler lost: one line, exit 1; a re-run skips what was finished.
"""

import asyncio
import functools
import logging
import os
import time
import uuid
from concurrent.futures import CancelledError
from contextlib import contextmanager
from pathlib import Path

from distributed import Client, LocalCluster, as_completed, get_worker
from distributed.comm.core import CommClosedError
from distributed.diagnostics.plugin import WorkerPlugin
from distributed.scheduler import KilledWorker

from npsrcnn.chunked import kernel_turn
from npsrcnn.errors import NpsrcnnError

CONNECT_TIMEOUT = 5  # seconds to reach a scheduler before saying it cannot be reached
LOCAL = "local:"


def parse_address(address):
    """``local:N`` -> N, the worker processes to start here; a Dask address (``tcp://HOST:PORT``) -> 0."""
    if address.startswith(LOCAL):
        count = address[len(LOCAL) :]
        if not count.isdigit() or int(count) < 1:
            raise NpsrcnnError(f"--scheduler {address}: local:N starts N worker processes here; N must be 1 or more")
        return int(count)
    scheme, _, place = address.partition("://")
    if not scheme or not place:
        raise NpsrcnnError(f"--scheduler {address!r} is neither tcp://HOST:PORT of a Dask scheduler nor local:N")
    return 0


@contextmanager
def connect(address):
    """A Dask ``Client`` for ``--scheduler ADDRESS`` (see ``parse_address``), closed at the end with the
    workers ``local:N`` started. Dask's own log stays quiet: what goes wrong is said in one line."""
    workers = parse_address(address)
    loggers = [
        logging.getLogger(name) for name in list(logging.root.manager.loggerDict) if name.startswith("distributed")
    ]
    levels = [(logger, logger.level) for logger in [logging.getLogger("distributed"), *loggers]]
    for logger, _ in levels:  # Dask's configuration gives some of them levels of their own
        logger.setLevel(logging.CRITICAL)
    cluster = None
    try:
        try:
            if workers:
                cluster = LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=logging.CRITICAL,
                )
                client = Client(cluster)
            else:
                client = Client(address, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as e:
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise NpsrcnnError(f"--scheduler {address}: cannot reach a Dask scheduler ({reason})") from None
        try:
            with _scheduler_lost(address):  # also where chunks (--chunks) are computed, outside map_jobs
                yield client
        finally:
            client.close(timeout=CONNECT_TIMEOUT)
    finally:
        if cluster is not None:
            cluster.close(timeout=CONNECT_TIMEOUT)
        for logger, level in levels:
            logger.setLevel(level)


def mapper(client, address):
    """The ``npsrcnn.jobs`` mapper that runs each job on ``client``'s workers; ``address`` names the
    scheduler in what is said when it is lost."""
    return functools.partial(map_jobs, client, address)


def map_jobs(client, address, function, jobs, context):
    """``npsrcnn.jobs``' contract on a cluster: ``function(job, context)`` for each job on a worker,
    ``(job, result, error)`` as each finishes. A job whose workers kept dying (Dask's
    ``allowed-failures``) fails with one line of its own; the scheduler lost ends the run with one."""
    if not jobs:  # nothing to send: no plugin, no warm-up
        return
    futures, name = {}, None
    try:
        with _scheduler_lost(address):
            name = register(client, context)
            for job in jobs:
                futures[client.submit(_run, function, _absolute(job), name, pure=False)] = job
            for future in as_completed(futures):
                job = futures.pop(future)
                try:
                    result = future.result()
                except (NpsrcnnError, MemoryError) as error:
                    yield job, None, _as_given(error, job)
                except KilledWorker as e:
                    tries = e.allowed_failures + 1
                    yield job, None, NpsrcnnError(f"{job[0]}: {tries} workers died running it (out of memory?)")
                else:
                    yield job, result, None
    finally:
        if client.status == "running":
            client.cancel(list(futures))
            if name is not None:
                client.unregister_worker_plugin(name)


def register(client, context):
    """Send ``context`` to every worker, now and as they join: -> the plugin's name. Returns once each
    worker there has warmed it up (``context.warm_up()``, if it has one)."""
    name = f"npsrcnn-{uuid.uuid4().hex[:12]}"
    client.register_plugin(_Context(context), name=name)
    return name


def warm_up_seconds(client, name):
    """``{worker address: seconds}`` each worker took to set up the context of plugin ``name``."""
    return client.run(lambda dask_worker: dask_worker.plugins[name].seconds)


class _Context(WorkerPlugin):
    """A run's context on a worker: sent once, warmed up off the worker's event loop (so that it still
    answers the scheduler's heartbeats while numba compiles)."""

    def __init__(self, context):
        self.context, self.seconds = context, None

    async def setup(self, worker):
        started = time.monotonic()
        warm_up = getattr(self.context, "warm_up", None)
        if warm_up is not None:
            await asyncio.get_running_loop().run_in_executor(None, _take_turn, warm_up)
        self.seconds = time.monotonic() - started


def _take_turn(function, *args):
    with kernel_turn():
        return function(*args)


def _run(function, job, name):
    """On a worker: the job with the context its plugin holds, in this process's turn at the kernels."""
    return _take_turn(function, job, get_worker().plugins[name].context)


def _absolute(job):
    return tuple(Path(os.path.abspath(item)) if isinstance(item, Path) else item for item in job)


def _as_given(error, job):
    """``error`` with the job's paths written as the user gave them, not as they were sent."""
    if not isinstance(error, NpsrcnnError):
        return error
    text = str(error)
    for given, sent in sorted(zip(job, _absolute(job)), key=lambda pair: -len(str(pair[1]))):
        if isinstance(given, Path) and sent != given:
            text = text.replace(str(sent), str(given))
    return NpsrcnnError(text)


@contextmanager
def _scheduler_lost(address):
    """Dask's failures as one line: the client's link to the scheduler broken (Dask cancels every
    future, or the link fails), or a task that killed every worker it ran on."""
    try:
        yield
    except (CancelledError, CommClosedError) as e:
        what = str(e).strip().splitlines()[0] if isinstance(e, CommClosedError) and str(e).strip() else "it stopped"
        raise NpsrcnnError(
            f"scheduler {address}: lost the connection mid-run ({what}); what finished is kept, run again for the rest"
        ) from None
    except KilledWorker as e:
        raise NpsrcnnError(
            f"scheduler {address}: a task died with {e.allowed_failures + 1} workers in a row (out of memory? "
            "smaller --chunks or --tile take less)"
        ) from None
