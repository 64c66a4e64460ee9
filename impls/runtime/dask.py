"""``executor="dask"``: the work of a render runs on a Dask distributed cluster.

Dask is an optional extra (``pip install 'pytest-renderbench[dask]'``): this module imports
``distributed`` only when a pool opens, so the rest of the package works without it.

Where the workers come from:

- ``job.dask_address=None``: a private ``LocalCluster`` of ``workers`` processes with one
  thread each (``processes=True``: frames are Python code that holds the GIL), on 127.0.0.1,
  with no dashboard, quiet logs and its own temporary ``local_directory``. Cluster and client
  are closed at the end of the render, after a failure too, and the directory is removed.
- ``job.dask_address="tcp://host:8786"``: a running scheduler. Only this render's client is
  closed at the end; the cluster stays up. ``workers`` then only sizes the work (chunk count,
  tasks in flight): give it the cluster's total thread count.

Tasks go through ``Client.get_executor()`` (the ``concurrent.futures`` API), so the dispatcher
that drives the local process pool drives Dask unchanged: same tasks, same errors, same
timeouts (counted, as for the local pool, from the estimated start of a task).

Dask workers may run on other machines, and a private cluster stands for one: renderers assume
no shared memory nor filesystem (a task's inputs travel with it, its outputs come back as
bytes). See :attr:`DaskExecutor.capabilities`.

A lost worker: Dask's scheduler reschedules the tasks that were assigned to a worker that
died (the nanny of a ``LocalCluster`` starts a replacement worker) and gives up on a task once
workers died under it more than ``allowed-failures`` times, failing it with ``KilledWorker``.
For a cluster renderbench starts, ``allowed-failures`` is ``job.retries``, so a task is tried
at most ``retries + 1`` times, as with the local pool; unlike the local pool, the other tasks
are not disturbed. A ``KilledWorker`` is final: the dispatcher raises :class:`WorkerLost`
without retrying again (the capabilities say so: ``reschedules_lost_work``). A running cluster
keeps its own ``allowed-failures`` (Dask's default is 3), which ``job.retries`` does not
change. Note that Dask counts every task *assigned* to the dying worker, not only the running
one. Tasks that were rescheduled and then succeeded appear in :meth:`DaskExecutor.report`.

Data published for the workers (:class:`~impls.runtime.executor.Publisher`: a pickled clip) is
scattered to one worker of each pool when the executor hands the pool out, and published
under its name; a worker that does not hold it fetches it from that one on first use. When
the pool ends it is forgotten: a running cluster keeps nothing of the render.

On a failure (a task error, a timeout, Ctrl-C) the pool of a private cluster kills every
worker process and its children (a chunk's ffmpeg, a scene's manim) at once. On a running
cluster a task that already started cannot be stopped from the client: it runs to its end
(a Manim scene still stops at its own timeout) and its result is dropped. The workers of a
running cluster outlive the render: each pool runs the render's forget call on every worker
when it closes (a private cluster's workers end with it).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import replace
from functools import partial
from typing import Any, TypeVar

from impls.errors import InvalidJob, RenderFailed
from impls.runtime.executor import (
    Capabilities,
    Forgetting,
    Killing,
    Published,
    Report,
    Settings,
)
from impls.runtime.processes import kill_all, trees

R = TypeVar("R")

DASK_EXTRA = "pip install 'pytest-renderbench[dask]'"

#: How long to wait for a running scheduler to answer, and for it to have a worker (seconds).
CONNECT_TIMEOUT_S = 30.0

_ADDRESS = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$")

#: Levels of the private cluster's loggers: a killed worker is reported through the error it
#: causes, not through the nanny's warnings on the terminal.
_QUIET = logging.ERROR

_SPAWN_ENVIRON = "distributed.nanny.pre-spawn-environ"


#: How long a plain ``tcp://`` connection is tried before asking whether the scheduler
#: speaks TLS (a healthy scheduler answers in milliseconds).
FIRST_ATTEMPT_S = 3.0

_WANTS_TLS = (
    "cannot use the Dask scheduler at {address}: it speaks TLS, and this client plain TCP. "
    "Connect to {tls} with the cluster's certificates: Dask's configuration "
    "(distributed.comm.tls.ca-file, distributed.comm.tls.client.cert and .key, e.g. "
    "DASK_DISTRIBUTED__COMM__TLS__CA_FILE=...), or dask_security=distributed.Security(...)"
)
_NEEDS_CERTIFICATES = (
    "cannot use the Dask scheduler at {address}: a tls:// address needs the cluster's "
    "certificates, and none are configured: set distributed.comm.tls.ca-file, "
    "distributed.comm.tls.client.cert and distributed.comm.tls.client.key in Dask's "
    "configuration (e.g. DASK_DISTRIBUTED__COMM__TLS__CA_FILE=...), or pass "
    "dask_security=distributed.Security(tls_ca_file=..., tls_client_cert=..., tls_client_key=...)"
)


def speaks_tls(address: str, timeout: float = 2.0) -> bool:
    """Whether the server at ``tcp://host:port`` answers a TLS handshake.

    A Dask server speaking plain TCP sends its own handshake first, which is no TLS record; a
    TLS one answers the client's hello (or sends an alert, wanting a client certificate). The
    server's certificate is not checked: only the protocol is asked.
    """
    import socket
    import ssl

    host, _, port = address.partition("://")[2].rpartition(":")
    host = host.strip("[]")
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as raw:
            with context.wrap_socket(raw, server_hostname=host or None):
                return True
    except ssl.SSLError as exc:
        return "ALERT" in str(exc.reason or exc).upper()
    except (OSError, ValueError):
        return False


def worker_directory() -> str | None:
    """The local directory of the Dask worker running the caller; ``None`` outside one.

    Worker-side scratch files go there rather than into the system temp dir: Dask removes a
    worker's directory when it closes, and the directory of a killed worker when the next
    worker starts in the same place (a nanny restarts one at once), so even a SIGKILLed task
    leaves nothing behind for long.
    """
    distributed = sys.modules.get("distributed")  # never imported here just to ask
    if distributed is None:
        return None
    try:
        return str(distributed.get_worker().local_directory)
    except ValueError:  # not inside a Dask task
        return None


#: In a Dask worker: seconds each use of published data took, by name, until its pool
#: collects them.
_uses: dict[str, list[float]] = {}
_uses_lock = threading.Lock()


def use_cluster_data(name: str, use: Callable[[bytes], R]) -> R:
    """On a Dask worker: ``use(data)`` of the data published under ``name``, timed.

    The worker that got the scatter holds the data; the others fetch it from there by its
    name. The task leaves the worker's thread pool while it waits (``worker_client``), as Dask
    asks of a task that waits on the cluster.
    """
    from distributed import get_worker, worker_client

    started = time.perf_counter()
    held: Any = get_worker().data
    if name in held:
        data = bytes(held[name])
    else:
        with worker_client() as client:
            data = bytes(client.get_dataset(name).result())
    value = use(data)
    with _uses_lock:
        _uses.setdefault(name, []).append(time.perf_counter() - started)
    return value


def _collect_uses(names: list[str]) -> dict[str, list[float]]:
    """On every Dask worker (``client.run``): the uses noted for ``names``, forgotten there."""
    with _uses_lock:
        return {name: _uses.pop(name, []) for name in names}


def _saved_environ(spawn_environ: Any) -> dict[str, str | None]:
    """This process's values of the variables a nanny running here sets for its workers."""
    names = {"PYTHONHASHSEED", *(spawn_environ if isinstance(spawn_environ, dict) else {})}
    return {name: os.environ.get(name) for name in names}


class DaskExecutor:
    """The Dask pools of one render; remembers what they saw.

    Each :meth:`open` opens a :class:`DaskPool`. :meth:`open_ahead` starts opening the first
    one in the background (a cluster takes a second or more to start: that can overlap with
    this process building the clip); :meth:`close` closes it if the render failed before
    taking it. :meth:`report` tells, after the render, where it ran and which tasks Dask
    rescheduled because their worker died.
    """

    name = "dask"
    capabilities = Capabilities(
        remote=True, shares_memory=False, shares_filesystem=False, reschedules_lost_work=True,
        opens_ahead=True, forgets=Forgetting.BY_CALL, kills=Killing.QUEUED_WORK,
    )  # fmt: skip

    worker_scratch = staticmethod(worker_directory)
    use_published = staticmethod(use_cluster_data)

    @staticmethod
    def unavailable_reason() -> str | None:
        if importlib.util.find_spec("distributed") is None:
            return f"executor 'dask' needs dask.distributed, which is not installed: {DASK_EXTRA}"
        return None

    def __init__(self, settings: Settings) -> None:
        missing = self.unavailable_reason()
        if missing is not None:
            raise InvalidJob(missing)
        address = settings.address
        if address is not None and not _ADDRESS.match(address):
            raise InvalidJob(
                f"dask_address must be a scheduler address like tcp://host:8786, got {address!r}"
            )
        if settings.security is not None and address is None:
            raise InvalidJob(
                "dask_security is for a running scheduler (dask_address); the private cluster "
                "renderbench starts listens on 127.0.0.1 only"
            )
        if address is None:  # a private cluster: its workers end with it
            self.capabilities = replace(
                self.capabilities, forgets=Forgetting.WITH_PROCESSES, kills=Killing.PROCESS_TREES,
                shares_cores=True,
            )  # fmt: skip
        self.address = address
        self.security = settings.security
        self.workers = settings.workers
        self.allowed_failures = settings.retries
        self.forget = settings.forget
        self.scheduler: str | None = None
        self.lost_workers: list[str] = []
        self.rescheduled: list[str] = []
        self.published: dict[str, bytes] = {}
        self.send_s: dict[str, float] = {}
        self.uses: dict[str, list[float]] = {}
        self._ahead: Future[DaskPool] | None = None

    def _open(self) -> DaskPool:
        return DaskPool(self.workers, self.address, self.allowed_failures, self, security=self.security)

    def open(self) -> DaskPool:
        ahead, self._ahead = self._ahead, None
        pool = ahead.result() if ahead is not None else self._open()  # its error, if it failed
        try:
            pool.hold(self.published)
        except BaseException:
            pool.kill()
            raise
        return pool

    def publish(self, name: str, data: bytes) -> None:
        """Hold ``data`` in the pools opened from now on (each scatters it when handed out)."""
        self.published[name] = data

    def open_ahead(self) -> None:
        """Start opening the first pool now, on a thread."""
        if self._ahead is not None:
            return
        ahead: Future[DaskPool] = Future()

        def start() -> None:
            try:
                ahead.set_result(self._open())
            except BaseException as exc:  # handed to whoever takes the pool
                ahead.set_exception(exc)

        threading.Thread(target=start, name="renderbench-dask-start", daemon=True).start()
        self._ahead = ahead

    def close(self) -> None:
        """Close the pool opened ahead if nobody took it (the render failed before its tasks).

        A private cluster is waited for (it starts in seconds) so that no worker outlives the
        render; a connection to a running scheduler is closed whenever its attempt ends.
        """
        self.published.clear()
        ahead, self._ahead = self._ahead, None
        if ahead is None:
            return
        if self.address is not None:
            ahead.add_done_callback(_close_unused)
            return
        with contextlib.suppress(BaseException):  # its error is not the render's
            ahead.result().close()

    def report(self) -> Report:
        summary = {
            "scheduler": self.scheduler,
            "cluster": "local" if self.address is None else "remote",
            "lost_workers": list(self.lost_workers),
            "rescheduled": list(self.rescheduled),
        }
        lost = {f"task {key}": "worker lost; rescheduled by Dask" for key in self.rescheduled}
        published = {
            name: Published(seconds, tuple(self.uses.get(name, ())))
            for name, seconds in self.send_s.items()
        }
        return Report(info={"dask": summary}, rescheduled=lost, published=published)


def _close_unused(ahead: Future[DaskPool]) -> None:
    if not ahead.cancelled() and ahead.exception() is None:
        ahead.result().close()


class DaskPool:
    """A Dask client (and, without an address, its private ``LocalCluster``) for one render."""

    def __init__(
        self,
        workers: int,
        address: str | None,
        allowed_failures: int,
        owner: DaskExecutor | None = None,
        security: Any = None,
    ) -> None:
        import dask
        import distributed

        # distributed's constructors are untyped: reached through Any.
        Client: Any = distributed.Client
        LocalCluster: Any = distributed.LocalCluster

        self._owner = owner
        self._cluster: Any = None
        self._client: Any = None
        self._directory: str | None = None
        self._keys: set[str] = set()
        self._held: dict[str, Any] = {}  # published name -> the future of its scattered data
        self._killed: list[BaseException] = []
        self._environ: dict[str, str | None] = {}
        self.workers = workers
        try:
            if address is None:
                self._directory = tempfile.mkdtemp(prefix="renderbench-dask-")
                settings = {
                    # A worker holds one task at a time, so a worker that dies takes one task
                    # with it (Dask counts every task assigned to it as failed once).
                    "distributed.scheduler.worker-saturation": 1.0,
                    # The scheduler's and nannies' own scratch dirs, removed with ours.
                    "temporary-directory": self._directory,
                    # Dask's default MALLOC_TRIM_THRESHOLD_=65536 makes glibc map and unmap
                    # every frame-sized array. None unsets it (impls.moviepy.allocator tunes
                    # the worker when it starts on frames). A task runs on a thread, whose
                    # malloc arena maps a new heap for each array too big for its current
                    # one, and unmaps it when freed: one arena makes the task thread allocate
                    # from the main heap like a local worker. (The README has the costs.)
                    f"{_SPAWN_ENVIRON}.MALLOC_TRIM_THRESHOLD_": None,
                    f"{_SPAWN_ENVIRON}.MALLOC_ARENA_MAX": "1",
                    # The worker's statistical profiler walks every thread's stack each 10 ms,
                    # holding the GIL, and nobody looks at a private cluster's profile (it has
                    # no dashboard).
                    "distributed.worker.profile.enabled": False,
                    # The event loops' tick check (every 20 ms) and system monitor (every
                    # 500 ms) keep an idle cluster busy for the whole render.
                    "distributed.admin.tick.interval": "1s",
                    "distributed.admin.system-monitor.interval": "5s",
                }
                # The in-process nannies write their worker environment into os.environ.
                self._environ = _saved_environ(dask.config.get(_SPAWN_ENVIRON))
                with dask.config.set(settings):
                    self._cluster = LocalCluster(
                        n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                        dashboard_address=None,  # no dashboard...
                        silence_logs=_QUIET, local_directory=self._directory,
                        scheduler_kwargs={
                            "allowed_failures": allowed_failures,
                            # ...but the scheduler's HTTP server (health, metrics) still starts:
                            # on a free port, not 8787, which another cluster may hold.
                            "dashboard_address": "127.0.0.1:0",
                        },
                    )
                self._client = Client(self._cluster, set_as_default=False)
                from impls.runtime.dask_plugin import OwnProcessGroup

                self._client.register_plugin(OwnProcessGroup())
                self.address = str(self._cluster.scheduler_address)
            else:
                self.address = address
                client = self._connect(Client, address, security)
                threads = sum(
                    int(w.get("nthreads", 0)) for w in client.scheduler_info()["workers"].values()
                )
                self.workers = threads or workers
        except BaseException as exc:
            self._teardown()
            if isinstance(exc, OSError) and address is None:
                raise RenderFailed(f"cannot start a Dask LocalCluster: {exc}") from exc
            raise
        if owner is not None:
            owner.scheduler = self.address
        self.executor: Executor = self._client.get_executor(pure=False)

    def _connect(self, client_class: Any, address: str, security: Any = None) -> Any:
        """A client of the scheduler at ``address`` that has at least one worker.

        ``security``: a ``distributed.Security`` (None: Dask's configuration,
        ``distributed.comm.tls.*``). A plain ``tcp://`` client gets no answer it understands
        from a TLS scheduler and would retry for the whole timeout: the first attempt is short,
        and a scheduler that then answers a TLS handshake is named as one.
        """
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        first = min(FIRST_ATTEMPT_S, CONNECT_TIMEOUT_S) if address.startswith("tcp://") else CONNECT_TIMEOUT_S
        try:
            try:
                client = self._client = client_class(
                    address, set_as_default=False, timeout=first, security=security
                )
            except OSError:
                if first >= CONNECT_TIMEOUT_S:
                    raise
                if speaks_tls(address):
                    raise RenderFailed(_WANTS_TLS.format(address=address, tls="tls://" + address[6:])) from None
                left = max(1.0, deadline - time.monotonic())
                client = self._client = client_class(
                    address, set_as_default=False, timeout=left, security=security
                )
        except OSError as exc:
            hint = "is `dask scheduler` running there, and reachable from this machine?"
            if address.startswith("tls://"):
                hint += (
                    " With TLS, check the certificates: the scheduler must trust this client's "
                    "and this client the scheduler's CA"
                )
            raise RenderFailed(f"cannot use the Dask scheduler at {address}: {exc} ({hint})") from exc
        except TypeError as exc:
            if "ssl" not in str(exc).lower():
                raise
            # Dask's TLS connector without a context: no certificates were configured.
            raise RenderFailed(_NEEDS_CERTIFICATES.format(address=address)) from exc
        try:
            client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
        except TimeoutError as exc:
            raise RenderFailed(
                f"cannot use the Dask scheduler at {address}: it has no worker after "
                f"{CONNECT_TIMEOUT_S:g} s; start some with `dask worker {address}`"
            ) from exc
        return client

    def hold(self, published: dict[str, bytes]) -> None:
        """Scatter each datum not held yet to one worker and publish it under its name (a dict's
        keys name the scattered data): the other workers fetch it by that name."""
        for name, data in published.items():
            if name in self._held:
                continue
            started = time.perf_counter()
            self._held[name] = self._client.scatter({name: data})[name]
            self._client.publish_dataset(**{name: self._held[name]})
            if self._owner is not None:
                sent = self._owner.send_s
                sent[name] = sent.get(name, 0.0) + time.perf_counter() - started

    def _collect_uses(self) -> None:
        """Note in the executor how long each worker's uses of the held data took."""
        if self._owner is None or not self._held:
            return
        with contextlib.suppress(Exception):  # the report is informative only
            noted = self._client.run(_collect_uses, list(self._held))
            for uses in noted.values():
                for name, seconds in uses.items():
                    self._owner.uses.setdefault(name, []).extend(seconds)

    def _release(self) -> None:
        """Forget the held data on the cluster (a running cluster outlives the render)."""
        held, self._held = self._held, {}
        for name, future in held.items():
            with contextlib.suppress(Exception):
                self._client.unpublish_dataset(name)
            with contextlib.suppress(Exception):
                self._client.cancel([future])

    @property
    def description(self) -> str:
        if self._cluster is not None:
            return f"Dask LocalCluster ({self.workers} workers)"
        return f"Dask cluster at {self.address} ({self.workers} threads)"

    def submit(self, fn: Callable[..., R], /, *args: Any) -> Future[R]:
        key = f"{getattr(fn, '__name__', 'task')}-{uuid.uuid4().hex}"
        self._keys.add(key)
        inner = self.executor.submit(fn, *args, key=key)
        # The dispatcher estimates when a task started from future.running(), which Dask's
        # futures never report: this one is running from submission, like a local pool's
        # future once it is queued for a worker.
        outer: Future[R] = Future()
        outer.set_running_or_notify_cancel()
        inner.add_done_callback(partial(self._relay, outer))
        return outer

    def _relay(self, outer: Future[Any], inner: Future[Any]) -> None:
        if inner.cancelled():
            outer.set_exception(
                RenderFailed(
                    f"Dask cancelled the task (its scheduler at {self.address} forgot it, or "
                    "the connection to the scheduler was lost)"
                )
            )
            return
        error = inner.exception()
        if error is None:
            outer.set_result(inner.result())
            return
        if self.is_worker_loss(error):
            self._killed.append(error)
        outer.set_exception(error)

    def is_worker_loss(self, error: BaseException) -> bool:
        from distributed import KilledWorker

        return isinstance(error, KilledWorker)

    def loss_detail(self) -> str:
        if not self._killed:
            return "a Dask worker died"
        error: Any = self._killed[-1]
        tries = int(error.allowed_failures) + 1
        return (
            f"Dask worker {error.last_worker.address} died; the task was tried on {tries} "
            f"worker{'s' if tries != 1 else ''} (the scheduler's allowed-failures is "
            f"{error.allowed_failures})"
        )

    def lost_futures(self) -> set[Future[Any]]:
        # Never asked: Dask reschedules lost work itself, and the futures it gives up on are
        # the ones that fail with KilledWorker.
        return set()

    def _note_lost_work(self) -> None:
        """Record, from the scheduler's event log, which of our tasks lost their worker."""
        if self._owner is None or self._client is None:
            return
        with contextlib.suppress(Exception):  # the summary is informative only
            for _, event in self._client.get_events("all"):
                if not isinstance(event, dict) or event.get("action") != "remove-worker":
                    continue
                if event.get("expected"):
                    continue
                ours = sorted(set(event.get("processing-tasks", ())) & self._keys)
                if ours:
                    self._owner.lost_workers.append(str(event.get("worker")))
                    self._owner.rescheduled.extend(ours)

    def close(self) -> None:
        self._note_lost_work()
        self._collect_uses()
        self._release()
        forget = self._owner.forget if self._owner is not None else None
        if self._cluster is None and self._client is not None and forget is not None:
            # A running cluster keeps its workers: each forgets what this render left in it.
            with contextlib.suppress(Exception):
                self._client.run(forget)
        self._teardown()

    def kill(self) -> None:
        pids: list[int] = []
        if self._cluster is not None:
            for nanny in list(self._cluster.workers.values()):
                # Graceful for the nanny means: do not restart the worker we are about to kill.
                with contextlib.suppress(Exception):
                    nanny.close_gracefully(reason="renderbench: render failed")
                pid = getattr(nanny, "pid", None)
                if pid:
                    pids.append(pid)
        doomed = trees(pids)
        self._release()
        with contextlib.suppress(Exception):
            self.executor.shutdown(wait=False)  # cancels what has not run
        kill_all(doomed)
        self._teardown()

    def _teardown(self) -> None:
        client, self._client = self._client, None
        cluster, self._cluster = self._cluster, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close()
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None
        environ, self._environ = self._environ, {}
        for name, value in environ.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
