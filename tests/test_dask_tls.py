"""A Dask cluster secured with TLS: a real LocalCluster on tls://, certificates made here.

The certificates come from trustme (a CA and one certificate for 127.0.0.1, used by the
scheduler, the workers and the client alike). Renders use Dask's own security, given as a
``distributed.Security`` (``dask_security=``) or through Dask's configuration
(``distributed.comm.tls.*``, here as the DASK_* variables of ``renderbench render``). A client
that speaks plain TCP, or TLS without certificates, is told what the scheduler wants.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("distributed")
trustme = pytest.importorskip("trustme")

import distributed  # noqa: E402

from harness.validate import decode_indices  # noqa: E402
from harness.workloads import FRAME_INDEX  # noqa: E402
from impls import ClipSource, EncoderSpec, InvalidJob, RenderFailed, RenderJob, get_renderer  # noqa: E402
from impls.runtime import dask as dask_runtime  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SMALL: dict[str, Any] = {"width": 160, "height": 90, "fps": 30, "duration": 2}


# distributed's constructors are untyped: reached through Any.
LocalCluster: Any = distributed.LocalCluster
Security: Any = distributed.Security


@dataclasses.dataclass(frozen=True)
class TlsCluster:
    address: str  # tls://127.0.0.1:PORT
    security: Any  # a distributed.Security
    ca_file: Path
    cert_file: Path  # the client's certificate and its key, in one file

    @property
    def as_tcp(self) -> str:
        return "tcp://" + self.address.removeprefix("tls://")


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsCluster]:
    folder = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    ca_file, cert_file = folder / "ca.pem", folder / "node.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    ca.issue_cert("127.0.0.1", "localhost").private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    security = Security(
        tls_ca_file=str(ca_file), tls_client_cert=str(cert_file), tls_scheduler_cert=str(cert_file),
        tls_worker_cert=str(cert_file), require_encryption=True,
    )  # fmt: skip
    cluster: Any = LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1", protocol="tls://",
        security=security, dashboard_address=None, silence_logs=logging.ERROR,
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
    )  # fmt: skip
    with cluster:
        address = str(cluster.scheduler_address)
        assert address.startswith("tls://")
        yield TlsCluster(address, security, ca_file, cert_file)


def _job(tmp_path: Path, address: str, **changes: Any) -> RenderJob:
    job = RenderJob(
        ClipSource(FRAME_INDEX, SMALL), tmp_path / "video.mp4", workers=1, executor="dask",
        dask_address=address, encoder=EncoderSpec(preset="ultrafast"), audio=False,
    )  # fmt: skip
    return dataclasses.replace(job, **changes)


@pytest.mark.slow
def test_chunk_renders_on_a_tls_cluster_given_a_security_object(tls_cluster: TlsCluster, tmp_path: Path) -> None:
    job = _job(tmp_path, tls_cluster.address, dask_security=tls_cluster.security)
    result = get_renderer("chunk").render(job)
    assert result.info["dask"]["scheduler"] == tls_cluster.address
    assert decode_indices(job.output) == list(range(60))


@pytest.mark.slow
def test_the_cli_renders_on_a_tls_cluster_with_dasks_own_configuration(tls_cluster: TlsCluster, tmp_path: Path) -> None:
    env = {
        **os.environ, "PYTHONPATH": str(ROOT),
        "DASK_DISTRIBUTED__COMM__TLS__CA_FILE": str(tls_cluster.ca_file),
        "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT": str(tls_cluster.cert_file),
    }  # fmt: skip
    output = tmp_path / "video.mp4"
    proc = subprocess.run(
        [sys.executable, "-m", "harness.render_cli", "--quiet", FRAME_INDEX, str(output),
         "--method", "chunk", "--executor", "dask", "--dask-address", tls_cluster.address,
         "--workers", "1", "--no-audio", "--preset", "ultrafast", "--kwargs", '{"width": 160, "height": 90, "duration": 2}'],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert decode_indices(output) == list(range(60))


@pytest.mark.slow
def test_plain_tcp_to_a_tls_scheduler_says_it_wants_tls(tls_cluster: TlsCluster, tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(RenderFailed, match=r"it speaks TLS, and this client plain TCP\. Connect to tls://127\.0\.0\.1:\d+ with the cluster's certificates"):
        get_renderer("chunk").render(_job(tmp_path, tls_cluster.as_tcp))
    assert time.monotonic() - started < dask_runtime.FIRST_ATTEMPT_S + 10  # not the 30 s timeout
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_tls_without_certificates_says_what_to_configure(tls_cluster: TlsCluster, tmp_path: Path) -> None:
    with pytest.raises(RenderFailed, match=r"a tls:// address needs the cluster's certificates, and none are configured: set distributed.comm.tls.ca-file"):
        get_renderer("chunk").render(_job(tmp_path, tls_cluster.address))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_speaks_tls_tells_a_tls_server_from_a_plain_one(tls_cluster: TlsCluster) -> None:
    assert dask_runtime.speaks_tls(tls_cluster.as_tcp)
    plain: Any = LocalCluster(
        n_workers=0, processes=True, host="127.0.0.1", dashboard_address=None, silence_logs=logging.ERROR,
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
    )  # fmt: skip
    with plain:
        assert not dask_runtime.speaks_tls(str(plain.scheduler_address))
    assert not dask_runtime.speaks_tls("tcp://127.0.0.1:1")  # nothing listens


def test_security_without_a_scheduler_address_is_refused(tmp_path: Path) -> None:
    job = _job(tmp_path, "tcp://127.0.0.1:1", dask_address=None, dask_security=Security())
    with pytest.raises(InvalidJob, match=r"dask_security is for a running scheduler \(dask_address\)"):
        get_renderer("chunk").render(job)
