"""Nothing silent: a call that would run for hours is refused or announced before any work, Ctrl-C stops
a batch within a second or two keeping its finished runs (and resume completes them bit for bit), and
Ctrl-C during a compile reaches the caller without breaking the next call."""

from __future__ import annotations

import _thread
import dataclasses
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings

import numpy as np
import pytest

import darkspin as ds
from darkspin.ensemble.montecarlo.files import load
from darkspin.trajectories import interruptible, jump_budget
from darkspin.trajectories.plan import compile_plan

LONG = ds.Protocol("ud", [], [0.0, 1e12])  # about 10**10 jumps per run


# ---- the jump budget ----------------------------------------------------------------------------------
def test_jump_estimate_is_t_final_times_the_largest_rate():
    plan = compile_plan(ds.SpinPair(), LONG)
    gamma = plan.gamma
    rate = np.linalg.eigvalsh(0.5 * (gamma + gamma.conj().T))[-1]
    assert jump_budget.jumps_per_run(plan) == pytest.approx(1e12 * rate)


def test_one_run_over_the_bound_is_refused_before_any_work():
    for call in (
        lambda: ds.simulate(ds.SpinPair(), LONG, 20, 1, progress=False),
        lambda: ds.run_trajectories(ds.SpinPair(), LONG, 20, 1),
    ):
        t = time.perf_counter()
        with pytest.raises(ValueError, match=r"t_final.*lambda_max.*MAX_RUN_JUMPS = 1e\+09"):
            call()
        assert time.perf_counter() - t < 5.0


def test_a_call_of_many_jumps_warns_in_one_line(monkeypatch):
    monkeypatch.setattr(jump_budget, "WARN_TOTAL_JUMPS", 100.0)
    protocol = ds.Protocol.paper()
    for call in (
        lambda: ds.simulate(ds.SpinPair(), protocol, 50, 1, progress=False),
        lambda: ds.run_trajectories(ds.SpinPair(), protocol, 50, 1),
    ):
        with pytest.warns(RuntimeWarning, match="jumps expected .* this will take minutes") as caught:
            call()
        assert all("\n" not in str(w.message) for w in caught)
    monkeypatch.setattr(jump_budget, "WARN_TOTAL_JUMPS", 1e9)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds.simulate(ds.SpinPair(), protocol, 50, 1, progress=False)


# ---- Ctrl-C during a batch ----------------------------------------------------------------------------
def test_interrupt_keeps_finished_runs_and_resume_is_bit_identical(tmp_path):
    """A Ctrl-C (delivered to the main thread, as by the terminal) mid-batch: the finished prefixes of
    every chunk are kept, with distributions; resuming gives the uninterrupted result bit for bit."""
    model, protocol = ds.SpinPair(), ds.Protocol("ud", [], [0.0, 3e5])  # a few thousand jumps per run
    # enough runs that a loaded machine cannot finish them all before the interrupt arrives
    n, seed, path = 3000, 11, tmp_path / "part.npz"
    kw = {"progress": False, "distributions": True, "batch_size": 300}
    ds.simulate(model, protocol, 8, seed, **kw)  # compiled before the clock starts
    timer = threading.Timer(1.0, _thread.interrupt_main)
    timer.start()
    try:
        with pytest.warns(RuntimeWarning, match="interrupted"):
            part = ds.simulate(model, protocol, n, seed, save=path, **kw)
    finally:
        timer.cancel()
    assert part.stats["end_condition"] == "interrupted"
    assert 0 < part.ntraj < n, "the interrupt came too late or too early to test anything"
    saved = load(path)
    assert saved.ntraj == part.ntraj and np.array_equal(saved.ranges, part.ranges)
    full = ds.simulate(model, protocol, n, seed, **kw)
    resumed = ds.simulate(model, protocol, n, seed, resume=path, **kw)
    assert resumed.stats["end_condition"] == "ntraj"
    for name in ("hi", "lo", "n_post", "n_success", "n_kept", "record_counts"):
        assert np.array_equal(getattr(resumed.sums, name), getattr(full.sums, name)), name
    assert resumed.sums.n_jumps == full.sums.n_jumps
    for field in dataclasses.fields(full.sums.dist):
        a, b = getattr(resumed.sums.dist, field.name), getattr(full.sums.dist, field.name)
        if isinstance(b, np.ndarray):
            assert np.array_equal(a, b), field.name


_LONG_RUN = """
import signal, sys, warnings
signal.signal(signal.SIGINT, signal.default_int_handler)
warnings.simplefilter("ignore")
import darkspin as ds
model = ds.SpinPair()
ds.simulate(model, ds.Protocol("ud", [], [0.0, 1.0]), 4, 1, progress=False)  # compiled or loaded
print("ready", flush=True)
r = ds.simulate(model, ds.Protocol("ud", [], [0.0, 1e10]), 20, 1, progress=False, save=sys.argv[1])
print("returned", r.ntraj, r.stats["end_condition"], flush=True)
"""


def _sigint_default() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.subprocess
def test_ctrl_c_stops_a_batch_of_hour_long_runs_at_once(tmp_path):
    """The 1e10 protocol (each run ~10**8 jumps, in the kernel for minutes): SIGINT ends it within
    seconds, with a saved interrupted result."""
    path = tmp_path / "long.npz"
    proc = subprocess.Popen(
        [sys.executable, "-c", _LONG_RUN, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_sigint_default,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        time.sleep(3.0)
        assert proc.poll() is None
        proc.send_signal(signal.SIGINT)
        t = time.monotonic()
        out, err = proc.communicate(timeout=30)
        elapsed = time.monotonic() - t
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert elapsed < 4.0, elapsed
    assert out.split()[0] == "returned" and out.split()[2] == "interrupted", out
    saved = load(path)
    assert saved.ntraj >= 0 and saved.stats["end_condition"] == "interrupted"


# ---- Ctrl-C during a compile --------------------------------------------------------------------------
# The promise is interruptible's, for any Numba kernel compiled through it; a cold compile of darkspin's own
# kernels takes minutes, so fresh one-loop kernels (no cache: cold in every process) stand in for them, and
# the hook that sends the SIGINT holds the compile for HOLD seconds as a long compile would. The interrupt
# must reach the caller long before the compile ends, and the next call must wait for it and work.
# (tests/analysis/cli/test_cli.py interrupts darkspin's own kernels during a cold compile: exit 130.)
HOLD = 3.0
_COLD_COMPILE = """
import os, signal, sys, threading, time
signal.signal(signal.SIGINT, signal.default_int_handler)
import numba
import numpy as np
from numba.core import codegen

hook = codegen.CPUCodeLibrary._object_compiled_hook.__func__
fired = []

def first_object_compiled(cls, ll_module, buf):
    if not fired:
        if threading.current_thread() is threading.main_thread():
            print("compiled in the main thread", flush=True)
        fired.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while LLVM works, inside its ctypes callback
        time.sleep(HOLD)  # a long compile
    return hook(cls, ll_module, buf)

codegen.CPUCodeLibrary._object_compiled_hook = classmethod(first_object_compiled)  # before Numba's codegen starts
from darkspin.trajectories import interruptible

def fresh_kernel():
    @numba.njit(nogil=True)
    def kernel(x):
        s = 0.0
        for i in range(x.size):
            s += x[i] * x[i]
        return s
    return kernel

x = np.arange(10.0)
for how in ("call", "detached"):
    kernel = fresh_kernel()
    run = (lambda: interruptible.call(kernel, x)) if how == "call" else (lambda: interruptible.detached(kernel, x))
    fired.clear()
    try:
        run()
        print(how, "not interrupted", flush=True)
    except KeyboardInterrupt:
        print(how, "interrupted after", time.monotonic() - fired[0], flush=True)
    print(how, "second call", run(), flush=True)
""".replace("HOLD", repr(HOLD))


@pytest.mark.subprocess
def test_ctrl_c_during_a_cold_compile_reaches_the_caller_and_the_next_call_works():
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_COLD_COMPILE)],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_sigint_default,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "compiled in the main thread" not in lines, proc.stdout
    assert len(lines) == 4, proc.stdout
    for how, first, second in zip(("call", "detached"), lines[::2], lines[1::2], strict=True):
        assert first.startswith(f"{how} interrupted after"), proc.stdout
        assert float(first.split()[-1]) < HOLD / 2, proc.stdout  # did not wait for the compile
        assert second == f"{how} second call 285.0", proc.stdout  # sum of i**2, i < 10
    assert "no compiled object" not in proc.stderr


def test_darkspin_kernels_are_called_through_interruptible(monkeypatch):
    """What makes the promise above hold for darkspin: its kernels are compiled and called through it."""
    seen = []
    real_call, real_detached = interruptible.call, interruptible.detached

    def call(kernel, *args, **kwargs):
        seen.append(("call", getattr(kernel, "__name__", "")))
        return real_call(kernel, *args, **kwargs)

    def detached(fn, *args):
        seen.append(("detached", getattr(fn, "__name__", "")))
        return real_detached(fn, *args)

    monkeypatch.setattr(interruptible, "call", call)
    monkeypatch.setattr(interruptible, "detached", detached)
    model, protocol = ds.SpinPair(), ds.Protocol.paper(3)
    ds.run_trajectories(model, protocol, 10, 1)
    ds.simulate(model, protocol, 10, 1, progress=False)
    assert ("detached", "compile_plan") in seen
    assert ("call", "per_run") in seen and ("call", "sums_with_table") in seen


def test_call_outside_the_main_thread_is_direct():
    seen = []
    worker = threading.Thread(target=lambda: seen.append(interruptible.call(threading.current_thread)))
    worker.start()
    worker.join()
    assert seen == [worker]


def test_a_broken_compiler_says_restart_python():
    def broken() -> None:
        raise RuntimeError("no compiled object yet for <Library '_jump_time'>")

    with pytest.raises(RuntimeError, match="restart Python"):
        interruptible.call(broken)
    with pytest.raises(RuntimeError, match="restart Python"):
        interruptible.detached(broken)
    with pytest.raises(ValueError, match="other"):
        interruptible.call(_raise_value_error)


def _raise_value_error() -> None:
    raise ValueError("other")
