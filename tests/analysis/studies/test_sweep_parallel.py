"""ds.sweep with every point's batches on the executor at once (ensemble.montecarlo.many.simulate_points).

The table must be bit-identical whatever runs it: in-process, a thread pool, a spawned process pool, any
batch size, with target_se per point, and after a Ctrl-C and a resume from its directory. Each point must
also equal ``simulate`` of that point alone.
"""

from __future__ import annotations

import concurrent.futures as cf
import importlib
import multiprocessing

import numba
import numpy as np
import pytest

import darkspin as ds

simulation_module = importlib.import_module("darkspin.ensemble.montecarlo.simulation")
sweep_module = importlib.import_module("darkspin.analysis.studies.sweeps")

SHORT = ds.Protocol("ud", [20.0, 40.0], np.linspace(0.0, 60.0, 7))
AXES = {"lam2": [0.0126, 0.011, 0.014], "readout_error": [0.0, 0.05]}  # 6 points


def _same(a: ds.SweepTable, b: ds.SweepTable) -> None:
    assert a.names == b.names
    for name in a.names:
        x, y = a[name], b[name]
        assert x.dtype == y.dtype and x.tobytes() == y.tobytes(), name


def run(**kwargs) -> ds.SweepTable:
    return ds.sweep(ds.SpinPair(), SHORT, AXES, ntraj=1500, seed=5, progress=False, **kwargs)


@pytest.fixture(scope="module")
def reference() -> ds.SweepTable:
    return run()


def skip_if_workqueue() -> None:
    """Numba's workqueue layer aborts the process when two Python threads run parallel kernels."""
    if numba.threading_layer() == "workqueue":  # known once the reference fixture has run a kernel
        pytest.skip("Numba workqueue threading layer is not thread-safe (simulate gap: thread pools)")


def test_each_point_equals_simulate_alone(reference):
    for i, lam2 in enumerate(AXES["lam2"]):
        for j, eps in enumerate(AXES["readout_error"]):
            k = 2 * i + j
            protocol = ds.Protocol("ud", [20.0, 40.0], SHORT.times, measurement=ds.Measurement(readout_error=eps))
            alone = ds.simulate(ds.SpinPair(lam2=lam2), protocol, 1500, sweep_module.point_seed(5, k), progress=False)
            assert reference["mc_fidelity_post"][k] == alone.population("S").value_post.real[-1]
            assert reference["mc_yield"][k] == alone.p_cumulative[-1]


@pytest.mark.parametrize("batch_size", [None, 200, 700])
def test_thread_pool_any_batch_size_is_bit_identical(reference, batch_size):
    skip_if_workqueue()
    with cf.ThreadPoolExecutor(2) as ex:
        _same(reference, run(executor=ex, batch_size=batch_size))


@pytest.mark.subprocess
def test_spawned_process_pool_is_bit_identical(reference):
    with cf.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as ex:
        _same(reference, run(executor=ex, batch_size=400))


def test_target_se_per_point_is_bit_identical_on_an_executor(reference):
    skip_if_workqueue()
    kwargs = {"target_se": 0.0085, "max_ntraj": 6000, "batch_size": 500}  # se at 1500: 0.0085-0.0097
    alone = run(**kwargs)
    with cf.ThreadPoolExecutor(2) as ex:
        _same(alone, run(executor=ex, **kwargs))
    # points stop at different numbers of trajectories: each one's goals are its own
    assert len(set(alone["mc_ntraj"].tolist())) > 1 and np.all(alone["mc_ntraj"] >= 1500)


def test_interrupt_keeps_finished_batches_and_resumes_bit_identically(reference, tmp_path, monkeypatch):
    skip_if_workqueue()
    real = simulation_module.run_batch
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 9:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(simulation_module, "run_batch", flaky)
    with cf.ThreadPoolExecutor(2) as ex, pytest.warns(RuntimeWarning, match="interrupted: .* of 6 points"):
        partial = run(executor=ex, batch_size=500, directory=tmp_path)
    assert partial.interrupted
    assert 0 < partial["mc_ntraj"].sum() < 6 * 1500
    monkeypatch.setattr(simulation_module, "run_batch", real)
    with cf.ThreadPoolExecutor(2) as ex:
        resumed = run(executor=ex, batch_size=300, directory=tmp_path)
    assert not resumed.interrupted
    _same(reference, resumed)
