"""Folders across a Dask cluster, as a user runs them: ``npsrcnn upscale --scheduler local:2`` and against a
``dask scheduler`` with two ``dask worker`` processes started from the command line on 127.0.0.1. The
outputs are byte for byte those of a run in one process, a worker killed mid-run changes nothing, a
lost scheduler is one line, and a re-run finishes only what is missing."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import skimage.data
from distributed import Client

from helpers import run_cli
from npsrcnn import write_image

ASTRONAUT = skimage.data.astronaut()
ENV = dict(os.environ, NPSRCNN_QUIET="1", PYTHONUNBUFFERED="1")


def _mixed_images(folder):
    """16 small images of every kind a folder holds: gray, RGB, RGBA, 16-bit gray and RGB PNGs, JPEGs;
    about 100x100, a tenth of a second each on one core: a run lasts long enough to kill a worker in."""
    folder.mkdir()
    for i in range(16):
        crop = ASTRONAUT[8 * i : 8 * i + 90 + i, 150 + 5 * i : 250 + 7 * i]
        kind = i % 5
        if kind == 0:
            write_image(folder / f"{i:02d}-gray.png", crop[..., 1])
        elif kind == 1:
            write_image(folder / f"{i:02d}-rgb.png", crop)
        elif kind == 2:
            write_image(folder / f"{i:02d}-rgba.png", np.dstack([crop, crop[..., 0]]))
        elif kind == 3:
            write_image(folder / f"{i:02d}-deep.png", crop.astype(np.uint16) * 257 + i)
        else:
            write_image(folder / f"{i:02d}-photo.jpg", crop)
    return folder


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return _mixed_images(tmp_path_factory.mktemp("cluster") / "in")


@pytest.fixture(scope="module")
def in_process(folder):
    """The reference: the same folder upscaled in one process, without --scheduler."""
    out = folder.parent / "in-process"
    result = run_cli("upscale", "-i", folder, "-o", out, "-s", 2)
    assert result.returncode == 0, result.stderr
    return out


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dask(*args):
    script = Path(sys.executable).with_name("dask")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "dask"]
    return subprocess.Popen(
        command + [str(a) for a in args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV
    )


@pytest.fixture
def dask_cluster():
    """``dask scheduler`` and two ``dask worker`` processes (one thread, no nanny: killing one kills the
    worker) on 127.0.0.1 at a free port; -> (address, scheduler process, worker processes). Torn down
    whatever the test did."""
    address = f"tcp://127.0.0.1:{_free_port()}"
    processes = [_dask("scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1], "--no-dashboard")]
    try:
        workers = [_dask("worker", address, "--nthreads", 1, "--no-nanny", "--no-dashboard") for _ in range(2)]
        processes += workers
        deadline = time.monotonic() + 60
        while True:  # the scheduler takes a moment to listen
            try:
                with Client(address, timeout=2) as client:
                    client.wait_for_workers(2, timeout=max(1, deadline - time.monotonic()))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield address, processes[0], workers
    finally:
        for process in processes[::-1]:  # the workers first: they leave while the scheduler still answers
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _upscale(folder, out, *options):
    script = Path(sys.executable).with_name("npsrcnn")
    args = ["upscale", "-i", folder, "-o", out, "-s", 2, *options]
    return subprocess.Popen(
        [str(script)] + [str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV
    )


def _local_workers(process):
    """The worker processes ``local:N`` started below the command (multiprocessing's spawned children)."""
    children = psutil.Process(process.pid).children(recursive=True)
    return [p for p in children if "spawn_main" in " ".join(p.cmdline())]


def _assert_same_files(out, reference):
    names = sorted(p.name for p in reference.iterdir())
    assert len(names) == 16 and sorted(p.name for p in out.iterdir()) == names  # no temporary either
    for name in names:
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name


@pytest.mark.parametrize("where", ["local:2", "dask scheduler"])
def test_a_worker_killed_mid_run_changes_nothing(where, folder, in_process, tmp_path, request):
    """Right after the first file comes back, one worker process is killed: its file runs again on the
    other (Dask's retry), every output is there and byte for byte the in-process run's, and a re-run
    does nothing."""
    if where == "local:2":
        address, workers = "local:2", None
    else:
        address, _, workers = request.getfixturevalue("dask_cluster")
    out = tmp_path / "out"
    process = _upscale(folder, out, "--scheduler", address)
    try:
        first = process.stdout.readline()
        assert " -> " in first, process.stderr.read()
        victims = _local_workers(process) if workers is None else [psutil.Process(workers[0].pid)]
        assert len(victims) == (2 if workers is None else 1)
        assert process.poll() is None and len(list(out.iterdir())) < 16  # mid-run
        victims[0].send_signal(signal.SIGKILL)
        stdout, stderr = process.communicate(timeout=300)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert stderr == "" and stdout.splitlines()[-1].startswith("16 upscaled in ")
    _assert_same_files(out, in_process)
    again = run_cli("upscale", "-i", folder, "-o", out, "-s", 2, "--scheduler", address)
    assert again.returncode == 0 and again.stdout.splitlines()[-1].startswith("0 upscaled, 16 skipped"), again.stderr
    _assert_same_files(out, in_process)


def test_the_scheduler_lost_is_one_line_and_a_rerun_finishes(dask_cluster, tmp_path):
    """The scheduler killed mid-run: one line naming it, exit 1, no partial file; a re-run (here in one
    process) writes only what is missing, and the folder is then the whole in-process result."""
    address, scheduler, _ = dask_cluster
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(6):  # 300x300 out: a few tenths of a second each, still running when the scheduler dies
        write_image(folder / f"{i}.png", ASTRONAUT[20 * i : 20 * i + 150, 100:250])
    out = tmp_path / "out"
    process = _upscale(folder, out, "--scheduler", address)
    try:
        first = process.stdout.readline()
        assert " -> " in first, process.stderr.read()
        scheduler.kill()
        stdout, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 1 and len(stderr.splitlines()) == 1, stderr
    assert stderr.startswith(f"npsrcnn: scheduler {address}: lost the connection mid-run"), stderr
    done = sorted(p.name for p in out.iterdir())
    assert 1 <= len(done) < 6 and not any(name.endswith(".partial") for name in done)
    rerun = run_cli("upscale", "-i", folder, "-o", out, "-s", 2)
    assert rerun.returncode == 0 and f"{6 - len(done)} upscaled, {len(done)} skipped" in rerun.stdout
    reference = run_cli("upscale", "-i", folder, "-o", tmp_path / "reference", "-s", 2)
    assert reference.returncode == 0
    for name in sorted(p.name for p in (tmp_path / "reference").iterdir()):
        assert (out / name).read_bytes() == (tmp_path / "reference" / name).read_bytes(), name


def test_evaluate_on_a_cluster_scores_as_in_one_process(tmp_path):
    """``npsrcnn evaluate --scheduler local:2``: each image scored on a worker, the same JSON as in one
    process, images in the folder's order."""
    data = tmp_path / "Set4"
    data.mkdir()
    for name, (top, left) in {"d": (0, 0), "c": (30, 200), "b": (200, 100), "a": (300, 300)}.items():
        write_image(data / f"{name}.png", ASTRONAUT[top : top + 72, left : left + 66])
    reports = {}
    for label, options in (("here", []), ("cluster", ["--scheduler", "local:2"])):
        path = tmp_path / f"{label}.json"
        result = run_cli("evaluate", "--data", data, "-s", 2, 3, "--json", path, *options)
        assert result.returncode == 0, result.stderr
        reports[label] = json.loads(path.read_text())
    assert reports["cluster"] == reports["here"]
    assert [i["name"] for i in reports["here"]["rows"][0]["images"]] == ["a", "b", "c", "d"]
    assert len(reports["here"]["rows"]) == 4  # bicubic and srcnn at x2 and x3


def test_a_file_that_fails_on_a_worker_is_the_line_it_gives_here(tmp_path):
    """A bad file among good ones, --keep-going, relative paths: the same line as in one process."""
    folder = tmp_path / "in"
    folder.mkdir()
    write_image(folder / "good.png", ASTRONAUT[:40, :50])
    (folder / "broken.png").write_text("a text file named .png")
    lines = {}
    for label, options in (("here", []), ("cluster", ["--scheduler", "local:2"])):
        result = run_cli("upscale", "-i", "in", "-o", f"out-{label}", "-s", 2, "--keep-going", *options, cwd=tmp_path)
        assert result.returncode == 1 and "1 upscaled, 1 failed" in result.stdout, result.stderr
        lines[label] = result.stderr.replace(f"out-{label}", "out")
    assert lines["cluster"] == lines["here"]
    assert (
        lines["here"].startswith("npsrcnn: in/broken.png: not a readable image")
        and len(lines["here"].splitlines()) == 1
    )


def test_each_worker_keeps_one_context_and_its_share_of_the_cores():
    """On ``local:2`` (one thread a worker) a job runs with one numba thread and one BLAS thread, not
    the machine's cores, and every job on a worker sees the one context that worker received."""
    from npsrcnn import cluster

    def report(job, context):  # defined here, so it travels to the workers by value
        import numba
        from threadpoolctl import threadpool_info

        blas = sorted({pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"})
        return os.getpid(), id(context), numba.get_num_threads(), blas

    with cluster.connect("local:2") as client:
        jobs = [(Path(f"job-{i}"),) for i in range(8)]
        outcomes = list(cluster.map_jobs(client, "local:2", report, jobs, {"model": "arrays"}))
    assert sorted(job for job, _, _ in outcomes) == sorted(jobs) and all(error is None for *_, error in outcomes)
    reports = [result for _, result, _ in outcomes]
    assert {(threads, tuple(blas)) for _, _, threads, blas in reports} == {(1, (1,))}
    contexts = {}
    for pid, context, _, _ in reports:
        contexts.setdefault(pid, set()).add(context)
    assert all(len(ids) == 1 for ids in contexts.values()) and os.getpid() not in contexts
