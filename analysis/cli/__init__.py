"""The ``darkspin`` command line (the report itself: analysis.report).

One module per job: main (dispatch, exit statuses), parser (arguments), errors (CLIError, the one-line
messages), interrupts (Ctrl-C), output (output folders, locks, resume points), cluster (Dask), and one
module per command: run, show, exact, steady, spectra, sweep, optimize.

    darkspin run [CONFIG.toml] [--ntraj N] [--seed S] [--out DIR] [--workers K | --scheduler ADDRESS]
                 [--timeout SECONDS] [--format png|pdf|svg] [--no-progress]
    darkspin show RESULT.npz [--out DIR] [--format ...]
    darkspin exact [CONFIG.toml] [--figures] [--out DIR] [--format ...]
    darkspin steady [--V V] [--out DIR] [--format ...]
    darkspin spectra [--out DIR] [--format ...]
    darkspin sweep STUDY.toml [--out DIR] [--ntraj N] [--workers K | --scheduler ADDRESS] [--set ...]
    darkspin optimize [STUDY.toml] [--rounds N | --max-rounds M] [--t-max T] [--objective NAME]
                 [--min-yield Y] [--starts K] [--ntraj N] [--seed S] [--no-progress]

``run``, ``exact``, ``sweep`` and ``optimize`` take repeatable ``--set section.key=value`` overrides of the config
(the value read as TOML, e.g. ``--set model.lam2=0.01``, ``--set protocol.measure_at=[100,200]``; text
that is not TOML is a string, e.g. ``--set protocol.postselect=last``).

``sweep`` reads a run config with a [sweep] section naming the axes (see docs/sweeps.md), runs
analysis.studies (the exact solution at every point; trajectories too with --ntraj N > 0, or run.ntraj
given in the file) and writes sweep.csv, summary.json and sweep.png (lines for one axis, heatmaps for
two) to DIR; DIR/points/ keeps every finished point, so the same command resumes an interrupted sweep.

``optimize`` chooses the measurement times of the config's protocol that maximise an exact objective
(analysis.studies.schedule.optimize_schedule; an optional [optimize] section of the config gives rounds,
max_rounds, t_max, objective, min_yield, starts; the flags override it), prints them next to the
protocol's own schedule, and checks the optimised protocol with trajectories ([run] ntraj and seed).

``run`` simulates the protocol of the config (default: the embedded ``analysis/default.toml``, the
paper's Fig. 3 right run with 100 000 trajectories, seed 2021), compares it with the exact master
equation, and writes result.npz, summary.json, postselection.txt and figures to DIR (default
./darkspin-out/<timestamp>/; the files are described in analysis.report).

Resuming. result.npz is saved after every batch. ``run`` into a folder that already holds a result.npz
continues it: the file must come from the same model, protocol and seed (otherwise exit 2 and the file
is left alone); its trajectories are kept, only the missing ones are run, and the final sums are
bit-identical to an uninterrupted run with the same seed. The saved count never goes down: a file with
more trajectories than asked is kept whole.

One command per folder. A command writing to DIR holds an exclusive lock on DIR/.darkspin.lock (flock)
while it runs; a second one on the same folder stops at once (exit 2).

Dask. ``--scheduler`` must answer the Dask handshake and show at least one worker within --timeout
seconds (default 20), else exit 2. ``--workers K`` starts a local cluster whose worker processes ignore
Ctrl-C, so a Ctrl-C to the whole process group stops only this process, which closes the cluster.

Errors print one line ``darkspin: <message>`` on stderr, never a traceback. Exit status: 0 success;
2 bad usage, config, input file or output directory (and any ValueError of the library); 1 an I/O
failure while writing (e.g. disk full: the message names the file; the batches finished before stay in
result.npz, no figure is left half-written) or an internal error (DARKSPIN_DEBUG=1 shows its traceback);
130 Ctrl-C (while the kernels compile or load at the start: at once, nothing written; later: the
finished batches are kept in result.npz, summary.json and postselection.txt are written, figures are
not); 141 (128 + SIGPIPE, what a shell reports for tools stopped by a closed pipe) when stdout is a pipe
closed early, e.g. ``darkspin exact | head -3``, silently (files written before stay).
"""

from __future__ import annotations

from .errors import CLIError
from .main import main
from .parser import build_parser

__all__ = ["main", "build_parser", "CLIError"]
