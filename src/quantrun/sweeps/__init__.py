"""Sweeps: a grid of runs, computed without writing each run, resumable, on one machine or a
Dask cluster (DESIGN §9).

A sweep sits above ``runs/``: every cell *is* the run ``runs create`` would make with the
sweep's request and the cell's parameters (``RunCreateRequest(..., params=cell)``), with the
same run id and the same numbers, computed by the builder's own :func:`prepare`,
:func:`identify` and :func:`evaluate`. Modules:

- :mod:`~quantrun.sweeps.grid`: the grid spec (``--grid NAME=V1,V2`` / ``START:STOP:STEP``,
  a grid file) and its expansion into cells;
- :mod:`~quantrun.sweeps.request`: :class:`SweepRequest`, a base run request plus the grid;
- :mod:`~quantrun.sweeps.plan`: up-front validation, the cells' run ids and the sweep id;
- :mod:`~quantrun.sweeps.executor`: computing cells (in process, a local process pool, Dask);
- :mod:`~quantrun.sweeps.store`: ``RUNS_ROOT/sweeps``: publication, the listing, the
  checkpoint a resumed sweep starts from;
- :mod:`~quantrun.sweeps.create`: the whole creation; :mod:`~quantrun.sweeps.materialize`:
  a cell's full run, byte-identical to ``runs create``.
"""
