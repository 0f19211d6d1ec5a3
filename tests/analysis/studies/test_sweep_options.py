"""The run settings are one object: ``ds.RunOptions`` serves simulate, sweep and the config alike."""

from __future__ import annotations

import numpy as np
import pytest

import darkspin as ds
from darkspin.analysis.config import load_config

MODEL = ds.SpinPair()
PROTOCOL = ds.Protocol("ud", [100.0], np.linspace(0.0, 200.0, 3))
AXES = {"lam2": [0.0126, 0.011]}


def test_sweep_takes_the_options_object_or_its_fields_as_keywords():
    opts = ds.RunOptions(batch_size=150, progress=False)
    a = ds.sweep(MODEL, PROTOCOL, AXES, ntraj=300, seed=3, options=opts)
    b = ds.sweep(MODEL, PROTOCOL, AXES, ntraj=300, seed=3, batch_size=150, progress=False)
    for name in a.names:
        np.testing.assert_array_equal(a[name], b[name])
    # each point is the simulate call with the same options
    one = ds.simulate(MODEL, PROTOCOL, 300, ds.analysis.studies.sweeps.point_seed(3, 1), options=opts)
    assert a["mc_ntraj"][1] == one.ntraj == 300


def test_sweep_refuses_what_run_options_refuse():
    with pytest.raises(ValueError, match="batch_size must be an integer"):
        ds.sweep(MODEL, PROTOCOL, AXES, ntraj=10, options=ds.RunOptions(batch_size=0), progress=False)
    with pytest.raises(TypeError, match="unexpected keyword argument 'batch'"):
        ds.sweep(MODEL, PROTOCOL, AXES, batch=3)
    with pytest.raises(ValueError, match="target_se needs trajectories"):
        ds.sweep(MODEL, PROTOCOL, AXES, options=ds.RunOptions(target_se=1e-3), progress=False)


def test_config_gives_its_run_settings_as_options(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text("[run]\nntraj = 1000\nbatch_size = 250\ntarget_se = 0.01\nmax_ntraj = 4000\n")
    cfg = load_config(str(path))
    assert cfg.options == ds.RunOptions(batch_size=250, target_se=0.01, max_ntraj=4000)
