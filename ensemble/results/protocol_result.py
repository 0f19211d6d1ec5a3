"""The one family of protocol results: what the exact solver and the trajectories both return.

:class:`ProtocolResult` is the base of :class:`~darkspin.ensemble.results.master_equation.MasterEquationResult`
and :class:`~darkspin.ensemble.results.monte_carlo.MonteCarloResult`. Both carry the same fields for the same things
(n output times, R rounds, dimension d): ``model``, ``protocol``, ``times`` (n,), ``rho`` and
``rho_post`` (n, d, d), ``p_success`` and ``p_cumulative`` (R,), ``stats`` (a dict), and offer
:meth:`postselection` (each kind builds its own table), :meth:`expect` and :meth:`population`; Monte
Carlo results add standard errors. Figures and tables take either.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from ...trajectories.operators import basis_state
from ..statistics.intervals import CONFIDENCE

if TYPE_CHECKING:
    from .postselection import PostSelectionTable


class Expectation(NamedTuple):
    """<A> on the output grid: value and value_post (n,) complex (NaN where rho_post is undefined), and
    their standard errors se and se_post (n,) (zeros for the exact solver; for Monte Carlo a bound,
    sum_ij |A_ji| se(rho_ij), valid whatever the correlations between the elements).

    Attributes
    ----------
    value, value_post : numpy.ndarray, shape (n,), complex128
        <A> in the unconditional and in the post-selected state.
    se, se_post : numpy.ndarray, shape (n,), float64
        Their standard errors (zeros for exact results).

    Examples
    --------
    >>> import numpy as np
    >>> import darkspin as ds
    >>> exact = ds.solve_master_equation(ds.SpinPair(), ds.Protocol.paper(n_out=11))
    >>> zz = np.diag([1.0, -1.0, -1.0, 1.0])
    >>> e = exact.expect(zz)
    >>> round(float(e.value[0].real), 6), float(e.se[0])
    (-1.0, 0.0)
    """

    value: np.ndarray
    value_post: np.ndarray
    se: np.ndarray
    se_post: np.ndarray


class ProtocolResult:
    """Shared behaviour of exact and Monte Carlo protocol results (see the module docstring).

    Examples
    --------
    >>> import darkspin as ds
    >>> exact = ds.solve_master_equation(ds.SpinPair(), ds.Protocol.paper(n_out=11))
    >>> isinstance(exact, ds.ProtocolResult), round(float(exact.population("S").value_post[-1].real), 4)
    (True, 0.9996)
    """

    #: The unconditional and the post-selected state on the output grid, (n, d, d); set by each kind.
    rho: np.ndarray
    rho_post: np.ndarray
    #: Standard errors of rho and rho_post, (n, d, d); None for exact results.
    rho_se: np.ndarray | None = None
    rho_post_se: np.ndarray | None = None

    @property
    def dim(self) -> int:
        """Hilbert-space dimension d of the states (int; 4 for a spin pair)."""
        return int(np.shape(self.rho)[-1])

    def postselection(self, confidence: float = CONFIDENCE) -> PostSelectionTable:
        """Per-round post-selection statistics; each kind of result builds its own table.

        Parameters
        ----------
        confidence : float
            Confidence level of the intervals, in (0, 1) (Monte Carlo results only).

        Returns
        -------
        PostSelectionTable
            One row per round (columns documented in :class:`PostSelectionTable`).

        Raises
        ------
        NotImplementedError
            On the base class itself.
        """
        raise NotImplementedError(f"{type(self).__name__} does not build a post-selection table")

    def expect(self, operator: ArrayLike) -> Expectation:
        """Tr[A rho(t)] and Tr[A rho_post(t)] of an operator A on the output grid, with standard errors.

        Parameters
        ----------
        operator : array_like, shape (d, d)
            The operator A, finite, in the units of the quantity it measures (any, not only Hermitian ones:
            the values are complex).

        Returns
        -------
        Expectation
            ``value`` and ``value_post``, complex, shape (n,) for the n output times (``value_post`` NaN
            where no trajectory survived the post-selection); ``se`` and ``se_post``, shape (n,): zeros for
            exact results, for Monte Carlo a bound, sum_ij |A_ji| se(rho_ij).

        Raises
        ------
        ValueError
            If ``operator`` is not a finite numeric (d, d) array.

        Examples
        --------
        >>> import numpy as np
        >>> import darkspin as ds
        >>> exact = ds.solve_master_equation(ds.SpinPair(), ds.Protocol.paper(n_out=11))
        >>> zz = np.diag([1.0, -1.0, -1.0, 1.0])  # tau_z x tau_z in the basis uu, ud, du, dd
        >>> e = exact.expect(zz)
        >>> e.value.shape, round(float(e.value[0].real), 6), round(float(e.value_post[-1].real), 4)
        ((11,), -1.0, -0.9993)
        """
        A = np.asarray(operator)
        d = self.dim
        if A.shape != (d, d) or not np.issubdtype(A.dtype, np.number) or not np.all(np.isfinite(A)):
            raise ValueError(f"operator must be a finite ({d}, {d}) array, got shape {A.shape}")
        A = A.astype(complex)
        value = np.einsum("ji,nij->n", A, self.rho)
        value_post = np.einsum("ji,nij->n", A, self.rho_post)
        if self.rho_se is None:
            zero = np.zeros(value.shape)
            return Expectation(value, value_post, zero, np.where(np.isnan(value_post), np.nan, zero))
        assert self.rho_post_se is not None  # the two standard errors are set together
        w = np.abs(A).T
        return Expectation(
            value, value_post, np.einsum("ij,nij->n", w, self.rho_se), np.einsum("ij,nij->n", w, self.rho_post_se)
        )

    def population(self, state: str | ArrayLike) -> Expectation:
        """<v|rho(t)|v> and <v|rho_post(t)|v>: the population of a state on the output grid.

        Parameters
        ----------
        state : str or array_like, shape (d,)
            A named two-spin state ('uu', 'ud', 'du', 'dd', 'S', 'T1', 'T2', 'T3'; d = 4 only) or a
            normalised vector v (norm 1 within 1e-10).

        Returns
        -------
        Expectation
            As for :meth:`expect` with A = |v><v|: ``value`` and ``value_post`` (n,) (real parts are the
            populations, in [0, 1]) and their standard errors ``se`` and ``se_post`` (n,).

        Raises
        ------
        ValueError
            If a name is given for a result with d != 4, or the vector is not a finite normalised (d,) vector.

        Examples
        --------
        >>> import darkspin as ds
        >>> exact = ds.solve_master_equation(ds.SpinPair(), ds.Protocol.paper(n_out=11))
        >>> singlet = exact.population("S")
        >>> round(float(singlet.value[0].real), 4), round(float(singlet.value_post[-1].real), 4)
        (0.5, 0.9996)
        """
        if isinstance(state, str):
            if self.dim != 4:
                raise ValueError(f"state: named states exist for two spins (d = 4); this result has d = {self.dim}")
            v = basis_state(state)
        else:
            v = np.asarray(state, complex)
            if v.shape != (self.dim,) or not np.all(np.isfinite(v)) or abs(np.linalg.norm(v) - 1) > 1e-10:
                raise ValueError(f"state must be a label or a normalised ({self.dim},) vector")
        return self.expect(np.outer(v, v.conj()))
