"""Any small Lindblad system as data: a Hamiltonian and jump operators, with QuTiP interop.

The master equation is d rho/dt = -i[H, rho] + sum_k (L_k rho L_k^dag - {L_k^dag L_k, rho}/2) (hbar = 1;
H in energy units, L_k in sqrt(rate) units, one unit system of the user's choice). Density matrices are
vectorised row-major (numpy's C order, rho.reshape(d * d)), as everywhere in darkspin; with that
vectorisation vec(A X B) = (A kron B^T) vec(X). QuTiP vectorises column-major:
:func:`liouvillian_to_qutip` and :func:`liouvillian_from_qutip` convert between the two.

QuTiP is optional: it is imported only inside :meth:`LindbladModel.to_qutip`, so importing this module
never imports it. Everything that accepts a ``qutip.Qobj`` recognises it by its ``full()`` method.

The checks of the operators are in :mod:`.operator_checks`, the conversions of Liouvillians to and from
QuTiP's vectorisation in :mod:`.qutip_interop` (both importable from here too).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .operator_checks import HERMITIAN_TOL as HERMITIAN_TOL
from .operator_checks import MAX_CHANNELS as MAX_CHANNELS
from .operator_checks import MAX_DIM as MAX_DIM
from .operator_checks import MAX_ENTRY as MAX_ENTRY
from .operator_checks import MIN_DIM as MIN_DIM
from .operator_checks import STATE_TOL as STATE_TOL
from .operator_checks import _check_bounded, _check_dim, _is_qobj, _jump_array, _numeric_array, _operator_from, _short
from .qutip_interop import _tensor_dims
from .qutip_interop import liouvillian_from_qutip as liouvillian_from_qutip
from .qutip_interop import liouvillian_to_qutip as liouvillian_to_qutip


def _frozen(arr: np.ndarray) -> np.ndarray:
    arr = np.array(arr, dtype=np.complex128, order="C")  # a private copy
    arr.setflags(write=False)
    return arr


def _hash_bytes(arr: np.ndarray) -> bytes:
    """Bytes of ``arr`` with -0.0 turned into 0.0, so that equal arrays hash equally."""
    return (arr + 0.0).tobytes()


# ---- the model ---------------------------------------------------------------------------------------
class LindbladModel:
    """An immutable Lindblad system: Hamiltonian H (d, d) and jump operators L_k (K, d, d), with labels.

    hamiltonian:    (d, d) Hermitian matrix, d in [2, 64]: max|H - H^dag| <= 1e-12 max(1, max|H|). The
                    exactly Hermitian (H + H^dag)/2 is stored (an exactly Hermitian H is stored unchanged).
    jump_operators: (K, d, d) array or a sequence of K (d, d) arrays, 0 <= K <= 1024; K = 0 (an empty
                    list, or shape (0, d, d)) is a closed system.
    labels:         None (then "L0", "L1", ...) or K distinct non-empty strings naming the channels.

    All entries finite numbers with |x| <= 1e12. Any bad input raises ValueError naming the parameter and
    the accepted range. Instances are frozen, hashable and compare equal by content (H, jumps, labels).
    Units: H an energy, L_k sqrt(rate), in one unit system (hbar = 1); times are in its inverse.

    Parameters
    ----------
    hamiltonian : array_like, shape (d, d)
        As above.
    jump_operators : array_like, shape (K, d, d), or a sequence of K (d, d) arrays
        As above.
    labels : sequence of str, optional
        As above.

    Raises
    ------
    ValueError
        For any input outside the ranges above, naming the parameter.

    Examples
    --------
    >>> import numpy as np
    >>> import darkspin as ds
    >>> sigma_minus = np.array([[0, 0], [1, 0]])
    >>> qubit = ds.LindbladModel(np.diag([0.5, -0.5]), [0.1 * sigma_minus], labels=["decay"])
    >>> qubit.dim, qubit.jump_labels()
    (2, ['decay'])
    """

    __slots__ = ("_h", "_jumps", "_labels", "_hash")
    _h: np.ndarray
    _jumps: np.ndarray
    _labels: tuple[str, ...]
    _hash: int | None

    def __init__(self, hamiltonian: Any, jump_operators: Any, labels: Sequence[str] | None = None) -> None:
        if _is_qobj(hamiltonian):
            raise ValueError("hamiltonian must be a numpy array; use LindbladModel.from_qutip for qutip.Qobj input")
        h = _numeric_array("hamiltonian", hamiltonian)
        if h.ndim != 2 or h.shape[0] != h.shape[1]:
            raise ValueError(
                f"hamiltonian must be a square (d, d) matrix with d in [{MIN_DIM}, {MAX_DIM}], got shape {h.shape}"
            )
        d = h.shape[0]
        _check_dim("hamiltonian", d)
        _check_bounded("hamiltonian", h)
        scale = max(1.0, float(np.max(np.abs(h))))
        asym = float(np.max(np.abs(h - h.conj().T)))
        if asym > HERMITIAN_TOL * scale:
            raise ValueError(
                f"hamiltonian must be Hermitian: max|H - H^dag| must be <= {HERMITIAN_TOL:g} * max(1, max|H|) "
                f"= {HERMITIAN_TOL * scale:g}, got {asym!r}"
            )
        h = 0.5 * (h + h.conj().T)

        jumps = _jump_array(jump_operators, d)

        K = jumps.shape[0]
        if labels is None:
            names = [f"L{k}" for k in range(K)]
        else:
            if isinstance(labels, (str, bytes)) or not isinstance(labels, (Sequence, np.ndarray)):
                raise ValueError(
                    f"labels must be None or a sequence of {K} distinct non-empty strings, got {_short(labels)}"
                )
            names = list(labels)
            if len(names) != K:
                raise ValueError(f"labels must hold one string per jump operator ({K}), got {len(names)}")
            for k, name in enumerate(names):
                if not isinstance(name, str) or not name:
                    raise ValueError(f"labels must be non-empty strings, got {_short(name)} at index {k}")
            names = [str(name) for name in names]  # np.str_ -> str
            if len(set(names)) != K:
                dup = next(n for n in names if names.count(n) > 1)
                raise ValueError(f"labels must be distinct, got {dup!r} twice or more")

        object.__setattr__(self, "_h", _frozen(h))
        object.__setattr__(self, "_jumps", _frozen(jumps))
        object.__setattr__(self, "_labels", tuple(names))
        object.__setattr__(self, "_hash", None)

    # ---- immutability, equality, hashing ---------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"LindbladModel is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"LindbladModel is immutable: cannot delete {name!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LindbladModel):
            return NotImplemented
        return (
            self._labels == other._labels
            and self._h.shape == other._h.shape
            and self._jumps.shape == other._jumps.shape
            and bool(np.array_equal(self._h, other._h))
            and bool(np.array_equal(self._jumps, other._jumps))
        )

    def __hash__(self) -> int:
        if self._hash is None:
            key = (self._h.shape, self._jumps.shape, _hash_bytes(self._h), _hash_bytes(self._jumps), self._labels)
            object.__setattr__(self, "_hash", hash(key))
        assert self._hash is not None
        return self._hash

    def __repr__(self) -> str:
        labels = list(self._labels)
        shown = repr(labels) if len(labels) <= 6 else repr(labels[:6])[:-1] + ", ...]"
        return f"LindbladModel(d={self.dim}, K={self.n_channels}, labels={shown})"

    def __reduce__(self) -> tuple[Any, tuple[dict[str, np.ndarray]]]:
        return (type(self).from_arrays, (self.as_arrays(),))

    # ---- contents ------------------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        """Hilbert-space dimension d (int in [2, 64])."""
        return int(self._h.shape[0])

    @property
    def n_channels(self) -> int:
        """Number K of jump operators (int in [0, 1024])."""
        return int(self._jumps.shape[0])

    def hamiltonian(self) -> np.ndarray:
        """The Hamiltonian.

        Returns
        -------
        ndarray of complex128, shape (d, d)
            H (energy unit), exactly Hermitian; a fresh copy.
        """
        return self._h.copy()

    def jump_operators(self) -> np.ndarray:
        """The jump operators.

        Returns
        -------
        ndarray of complex128, shape (K, d, d)
            L_k in sqrt(rate) units; a fresh copy (shape (0, d, d) when K = 0).
        """
        return self._jumps.copy()

    def jump_labels(self) -> list[str]:
        """The channel names.

        Returns
        -------
        list of str, length K
            Names of the channels of :meth:`jump_operators`, in order.
        """
        return list(self._labels)

    def effective_hamiltonian(self) -> np.ndarray:
        """The no-jump generator H_eff = H - (i/2) sum_k L_k^dag L_k.

        Returns
        -------
        ndarray of complex128, shape (d, d)
            H_eff (energy unit).
        """
        gamma = np.einsum("kji,kjl->il", self._jumps.conj(), self._jumps)
        return self._h - 0.5j * gamma

    def liouvillian(self) -> np.ndarray:
        """Superoperator (d^2, d^2) complex acting on rho.reshape(d * d) (row-major, numpy's C order).

        With that vectorisation vec(A X B) = (A kron B^T) vec(X), so
            L = -i (H kron 1 - 1 kron H^T) + sum_k [L_k kron L_k^* - (G kron 1)/2 - (1 kron G^T)/2],
        G = sum_k L_k^dag L_k; equivalently -i H_eff kron 1 + i 1 kron H_eff^* + sum_k L_k kron L_k^*.
        Element [(i, j), (k, l)] (row i * d + j, column k * d + l) multiplies rho[k, l] into drho[i, j].

        Returns
        -------
        ndarray of complex128, shape (d^2, d^2)
            The Liouvillian (rate unit), a new array.
        """
        d = self.dim
        heff = self.effective_hamiltonian()
        # sum_k L_k kron conj(L_k) as [i, j, k, l] = sum_c L[c, i, k] conj(L[c, j, l])
        out = np.einsum("cik,cjl->ijkl", self._jumps, self._jumps.conj())  # a new array (zeros if K = 0)
        a = -1j * heff  # (A kron 1)[i, j, k, l] = A[i, k] delta[j, l]
        b = 1j * heff.conj()  # (1 kron B)[i, j, k, l] = delta[i, k] B[j, l]
        for j in range(d):
            out[:, j, :, j] += a
            out[j, :, j, :] += b
        return out.reshape(d * d, d * d)

    # ---- plain arrays, for saving ------------------------------------------------------------------
    def as_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays: 'hamiltonian' (d, d) complex, 'jump_operators' (K, d, d) complex, 'labels' (K,) unicode.

        :meth:`from_arrays` rebuilds an equal model bit for bit (e.g. after numpy.savez / numpy.load).

        Returns
        -------
        dict of str to ndarray
            Keys 'hamiltonian', 'jump_operators', 'labels'; fresh copies.
        """
        return {
            "hamiltonian": self._h.copy(),
            "jump_operators": self._jumps.copy(),
            "labels": np.array(self._labels, dtype=np.str_).reshape(len(self._labels)),
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, Any]) -> LindbladModel:
        """Rebuild a model from the dict of :meth:`as_arrays` (or an NpzFile holding those keys).

        Parameters
        ----------
        arrays : Mapping
            With keys 'hamiltonian' (d, d), 'jump_operators' (K, d, d) and 'labels' (K,) unicode.

        Returns
        -------
        LindbladModel

        Raises
        ------
        ValueError
            If a key is missing or an array has the wrong shape or content.
        """
        try:
            keys = set(arrays.keys())
        except AttributeError:
            raise ValueError(
                f"arrays must be a mapping with keys hamiltonian, jump_operators, labels; got {_short(arrays)}"
            ) from None
        missing = {"hamiltonian", "jump_operators", "labels"} - keys
        if missing:
            raise ValueError(
                f"arrays is missing the key(s) {sorted(missing)} (needs hamiltonian, jump_operators, labels)"
            )
        labels = np.asarray(arrays["labels"])
        if labels.ndim != 1 or (labels.size and labels.dtype.kind != "U"):
            raise ValueError(
                f"arrays['labels'] must be a 1-d unicode array, got dtype {labels.dtype} and shape {labels.shape}"
            )
        jumps = np.asarray(arrays["jump_operators"])
        if jumps.ndim != 3:
            raise ValueError(f"arrays['jump_operators'] must have shape (K, d, d), got shape {jumps.shape}")
        return cls(arrays["hamiltonian"], jumps, [str(s) for s in labels])

    # ---- QuTiP ---------------------------------------------------------------------------------------
    def to_qutip(self, dims: Sequence[int] | Sequence[Sequence[int]] | None = None) -> tuple[Any, list[Any]]:
        """(H, c_ops) as qutip.Qobj operators, ready for qutip.mesolve(H, rho0, times, c_ops).

        dims: the subsystem dimensions, a sequence of positive ints whose product is d (e.g. [2, 3]) or
        QuTiP's [[...], [...]] with two equal lists. None: [[2] * n, [2] * n] when d = 2^n (n qubits,
        first factor first, as np.kron orders them), else [[d], [d]].

        Parameters
        ----------
        dims : sequence of int, or a pair of equal sequences of int, optional
            As above.

        Returns
        -------
        H : qutip.Qobj
            The Hamiltonian, (d, d).
        c_ops : list of qutip.Qobj
            The K jump operators, (d, d) each.

        Raises
        ------
        ValueError
            If ``dims`` does not multiply to d.
        ImportError
            If QuTiP is not installed (darkspin does not depend on it).
        """
        tensor = _tensor_dims(dims, self.dim)
        try:
            import qutip
        except ImportError as exc:
            raise ImportError(
                "LindbladModel.to_qutip needs QuTiP, which darkspin does not install: pip install qutip"
            ) from exc
        qdims = [list(tensor), list(tensor)]
        H = qutip.Qobj(self.hamiltonian(), dims=qdims)
        c_ops = [qutip.Qobj(L, dims=qdims) for L in self.jump_operators()]
        return H, c_ops

    @classmethod
    def from_qutip(cls, H: Any, c_ops: Any = (), labels: Sequence[str] | None = None) -> LindbladModel:
        """A model from QuTiP's (H, c_ops): qutip.Qobj operators or plain arrays (mixed is fine).

        H: a Qobj operator or a (d, d) array; c_ops: a sequence of Qobj operators or (d, d) arrays, a
        (K, d, d) array, or a single Qobj operator. Qobj inputs must be operators (not kets, bras or
        superoperators) and all Qobj must share one dims. labels as for the constructor. The time
        dependence of QobjEvo is not supported.

        Parameters
        ----------
        H : qutip.Qobj or array_like, shape (d, d)
        c_ops : qutip.Qobj, sequence of qutip.Qobj or array_like, or array_like of shape (K, d, d)
        labels : sequence of str, optional

        Returns
        -------
        LindbladModel

        Raises
        ------
        ValueError
            For non-operators, mismatched dims or shapes, or any constructor error.
        """
        h = _operator_from("H", H)
        ref_dims, ref_name = (H.dims, "H") if _is_qobj(H) else (None, None)
        if _is_qobj(c_ops):
            c_ops = [c_ops]
        if isinstance(c_ops, np.ndarray):
            ops: Any = c_ops
        else:
            if isinstance(c_ops, (str, bytes)) or not isinstance(c_ops, (Sequence, np.ndarray)):
                raise ValueError(f"c_ops must be a sequence of operators (Qobj or (d, d) arrays), got {_short(c_ops)}")
            ops = []
            for k, op in enumerate(c_ops):
                ops.append(_operator_from(f"c_ops[{k}]", op))
                if _is_qobj(op):
                    if ref_dims is None:
                        ref_dims, ref_name = op.dims, f"c_ops[{k}]"
                    elif list(op.dims) != list(ref_dims):
                        raise ValueError(f"c_ops[{k}] has dims {op.dims}, but {ref_name} has dims {ref_dims}")
            if not ops:
                ops = np.zeros((0, h.shape[0], h.shape[0]), dtype=complex)
            else:
                shapes = {op.shape for op in ops}
                if len(shapes) != 1:
                    raise ValueError(f"c_ops must all have the same shape (d, d), got shapes {sorted(shapes)}")
                ops = np.stack(ops)
        return cls(h, ops, labels)


# ---- initial states ---------------------------------------------------------------------------------
def density_matrix(initial: Any, dim: int) -> np.ndarray:
    """A read-only (dim, dim) complex density matrix from a state vector, a density matrix or a Qobj.

    initial: a normalised vector (dim,) (|psi| = 1 within 1e-10; returned as |psi><psi| / |psi|^2), a
    density matrix (dim, dim) (Hermitian, trace 1 and eigenvalues >= -1e-10, within 1e-10; returned as
    (rho + rho^dag)/2), or a qutip.Qobj ket or density matrix of that dimension. dim: int in [2, 64].

    Parameters
    ----------
    initial : array_like, shape (dim,) or (dim, dim), or qutip.Qobj
    dim : int

    Returns
    -------
    ndarray of complex128, shape (dim, dim)
        Read-only.

    Raises
    ------
    ValueError
        Naming the parameter, for anything else.
    """
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not MIN_DIM <= dim <= MAX_DIM:
        raise ValueError(f"dim must be an integer in [{MIN_DIM}, {MAX_DIM}], got {_short(dim)}")
    dim = int(dim)
    if _is_qobj(initial):
        if getattr(initial, "issuper", False) or getattr(initial, "isbra", False):
            raise ValueError(
                f"initial must be a ket or a density matrix, got a Qobj of type {getattr(initial, 'type', '?')!r}"
            )
        is_ket = bool(getattr(initial, "isket", False))
        initial = initial.full()
        if is_ket:
            initial = np.asarray(initial).reshape(-1)
    arr = _numeric_array("initial", initial)
    if arr.shape == (dim,):
        norm = float(np.linalg.norm(arr))
        if abs(norm - 1.0) > STATE_TOL:
            raise ValueError(
                f"initial state vector must be normalised (|psi| = 1 within {STATE_TOL:g}), got |psi| = {norm!r}"
            )
        rho = np.outer(arr, arr.conj()) / norm**2
    elif arr.shape == (dim, dim):
        asym = float(np.max(np.abs(arr - arr.conj().T)))
        if asym > STATE_TOL:
            raise ValueError(
                f"initial density matrix must be Hermitian (within {STATE_TOL:g}), got max|rho - rho^dag| = {asym!r}"
            )
        rho = 0.5 * (arr + arr.conj().T)
        tr = float(np.trace(rho).real)
        if abs(tr - 1.0) > STATE_TOL:
            raise ValueError(f"initial density matrix must have trace 1 (within {STATE_TOL:g}), got {tr!r}")
        low = float(np.linalg.eigvalsh(rho)[0])
        if low < -STATE_TOL:
            raise ValueError(
                f"initial density matrix must be positive semidefinite (eigenvalues >= -{STATE_TOL:g}), lowest {low!r}"
            )
    else:
        raise ValueError(f"initial must be a vector ({dim},) or a density matrix ({dim}, {dim}), got shape {arr.shape}")
    rho = np.ascontiguousarray(rho, dtype=np.complex128)
    rho.setflags(write=False)
    return rho
