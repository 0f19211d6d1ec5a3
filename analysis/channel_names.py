"""Physical names of a SpinPair's jump channels ('lowering[0]' -> 'relaxation sigma^-, collective') for
legends and reports."""

from __future__ import annotations

from collections.abc import Iterable

#: The sector of each channel label, by what it does to a spin (matplotlib mathtext).
SECTOR_NAMES = {
    "lowering": r"relaxation $\sigma^-$",
    "raising": r"excitation $\sigma^+$",
    "dephasing": r"dephasing $\sigma^z$",
}


def channel_names(labels: Iterable[str]) -> dict[str, str]:
    """Physical names of the channels of a SpinPair ('lowering[0]' and so on), for legends.

    A sector with one channel (theta = 0: one operator sqrt(lam1) A_1 + sqrt(lam2) A_2 acting on both
    spins together, the sum of the two at the symmetric point) is named 'collective'; with two (theta != 0),
    the stronger is 'collective-like' and the weaker 'relative' (the eigenvectors of the sector's
    Kossakowski matrix, :meth:`~darkspin.SpinPair.jump_operators`). Other labels stay as they are.

    Parameters
    ----------
    labels : iterable of str
        Channel labels, as :meth:`~darkspin.SpinPair.jump_labels` gives them.

    Returns
    -------
    dict of str to str
        label -> name (matplotlib mathtext).
    """
    labels = list(labels)
    sectors = [lab.split("[")[0] for lab in labels]
    out = {}
    for lab, sector in zip(labels, sectors, strict=True):
        base = SECTOR_NAMES.get(sector)
        if base is None or not lab.endswith("]"):
            out[lab] = lab
        elif sectors.count(sector) == 1:
            out[lab] = f"{base}, collective"
        else:
            out[lab] = f"{base}, {'collective-like' if lab.endswith('[0]') else 'relative'}"
    return out
