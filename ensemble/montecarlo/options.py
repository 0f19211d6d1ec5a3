"""How a Monte Carlo run is carried out, defined once: batch size, stopping rule, threads, progress."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ...trajectories.checks import check_count, check_flag, plain
from ..results.monte_carlo import check_target

#: Smallest target_se accepted. Below it the target is beyond reach (a population with variance ~0.1
#: needs 0.1/target_se**2 > 10**19 > MAX_NTRAJ trajectories) and approaches the fixed-point rounding
#: of the sums (up to 2**-41 ~ 5e-13 per mean).
MIN_TARGET_SE = 1e-10


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """The settings of a Monte Carlo run, validated when made (ValueError naming the field).

    Parameters
    ----------
    batch_size : int or None
        Trajectories per batch, an integer in [1, 2**62]; None: ntraj/10, clipped to [20 000, 2**22].
    target_se : float or None
        Keep adding batches until the standard error chosen by ``target`` is below it (a finite number
        >= MIN_TARGET_SE = 1e-10); None: run exactly ntraj trajectories.
    max_ntraj : int or None
        Cap on trajectories with target_se (an integer in [1, 2**62], >= ntraj); None: max(10**7, ntraj).
    target : str
        What target_se applies to: "final_post" (the post-selected singlet population at the final
        output time) or "max" (the largest singlet standard error over all output times).
    batch_threads : int or None
        Numba threads per batch, an integer in [1, 2**62]; None: all in-process, 1 per batch on an executor.
    progress : bool
        Show a tqdm progress bar on stderr.

    Examples
    --------
    >>> import darkspin as ds
    >>> options = ds.RunOptions(batch_size=100, progress=False)
    >>> ds.simulate(ds.SpinPair(), ds.Protocol.paper(n_out=11), ntraj=300, seed=1, options=options).ntraj
    300
    """

    batch_size: int | None = None
    target_se: float | None = None
    max_ntraj: int | None = None
    target: str = "final_post"
    batch_threads: int | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: store the normalised values
        if self.batch_size is not None:
            set_(self, "batch_size", check_count("batch_size", self.batch_size))
        if self.target_se is not None:
            tse = self.target_se
            if (
                isinstance(tse, (bool, np.bool_))
                or not isinstance(tse, (int, float, np.integer, np.floating))
                or not math.isfinite(tse)
                or tse < MIN_TARGET_SE
            ):
                raise ValueError(f"target_se must be a finite number >= {MIN_TARGET_SE:g}, got {plain(tse)!r}")
            set_(self, "target_se", float(tse))
        if self.max_ntraj is not None:
            set_(self, "max_ntraj", check_count("max_ntraj", self.max_ntraj))
        if self.batch_threads is not None:
            set_(self, "batch_threads", check_count("batch_threads", self.batch_threads))
        set_(self, "target", check_target(self.target))
        set_(self, "progress", check_flag("progress", self.progress))

    def check_ntraj(self, ntraj: int) -> int:
        """``ntraj`` checked against these options (an integer in [1, 2**62], <= max_ntraj).

        Parameters
        ----------
        ntraj : int
            Trajectories to run (with target_se: the minimum number).

        Returns
        -------
        int
            ``ntraj`` as a Python int.

        Raises
        ------
        ValueError
            If ntraj is not an integer in [1, 2**62] or max_ntraj < ntraj.

        Examples
        --------
        >>> import darkspin as ds
        >>> options = ds.RunOptions(target_se=0.01, max_ntraj=1000)
        >>> options.check_ntraj(200)
        200
        >>> options.check_ntraj(2000)
        Traceback (most recent call last):
        ...
        ValueError: max_ntraj must be >= ntraj = 2000, got 1000
        """
        ntraj = check_count("ntraj", ntraj)
        if self.max_ntraj is not None and self.max_ntraj < ntraj:
            raise ValueError(f"max_ntraj must be >= ntraj = {ntraj}, got {self.max_ntraj}")
        return ntraj


def merge_options(options: RunOptions | None, settings: Mapping[str, Any], caller: str) -> RunOptions:
    """``options`` (default RunOptions()) with the keywords in ``settings`` replacing its fields.

    Parameters
    ----------
    options : RunOptions or None
        The options object given, if any.
    settings : mapping of str to Any
        Run settings given as keywords (batch_size=, target_se=, ...).
    caller : str
        The function's name, for the TypeError on an unknown keyword.

    Returns
    -------
    RunOptions
        Validated.

    Raises
    ------
    ValueError
        If ``options`` is not a RunOptions, or a setting is out of range.
    TypeError
        For a keyword that is not a field of RunOptions.
    """
    if options is not None and not isinstance(options, RunOptions):
        raise ValueError(f"options must be a RunOptions or None, got {type(options).__name__}")
    fields = {f.name for f in dataclasses.fields(RunOptions)}
    for name in settings:
        if name not in fields:
            raise TypeError(f"{caller}() got an unexpected keyword argument {name!r}")
    return dataclasses.replace(options or RunOptions(), **settings)
