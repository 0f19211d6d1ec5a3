"""Results of protocols with segments and gates: saved, reloaded bit for bit, resumed and checked (issue 21)."""

from __future__ import annotations

import numpy as np
import pytest

import darkspin as ds

PAIR = ds.SpinPair(lam1=0.2, lam2=0.2)
TIMES = np.linspace(0.0, 20.0, 11)


def _protocol(t_switch: float = 8.0, angle: float = 0.5) -> ds.Protocol:
    return ds.Protocol(
        "ud",
        (5.0, 10.0),
        TIMES,
        segments=[
            (t_switch, PAIR.replace(lam1=0.1)),
            (15.0, ds.LindbladModel(PAIR.hamiltonian(), PAIR.jump_operators()[:2])),
        ],
        gates=[(7.0, ("rx1", angle)), (12.0, "flip2")],
    )


def test_save_load_resume(tmp_path):
    p = _protocol()
    path = tmp_path / "r.npz"
    whole = ds.simulate(PAIR, p, 800, 11, progress=False)
    half = ds.simulate(PAIR, p, 400, 11, save=path, progress=False)
    loaded = ds.load(path)
    assert loaded.protocol.same_as(p)
    assert np.array_equal(loaded.rho, half.rho)
    resumed = ds.simulate(PAIR, p, 800, resume=path, progress=False)
    assert np.array_equal(resumed.rho, whole.rho)
    assert np.array_equal(resumed.rho_post, whole.rho_post)
    # another switch time or another angle is another protocol
    with pytest.raises(ValueError, match=r"other segments \(segment_at differs\)"):
        ds.simulate(PAIR, _protocol(t_switch=9.0), 800, resume=path, progress=False)
    with pytest.raises(ValueError, match=r"other gates \(gate_unitary differs\)"):
        ds.simulate(PAIR, _protocol(angle=0.6), 800, resume=path, progress=False)
    with pytest.raises(ValueError, match=r"other segments"):
        ds.simulate(PAIR, ds.Protocol("ud", (5.0, 10.0), TIMES), 800, resume=path, progress=False)
