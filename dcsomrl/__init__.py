"""The model layer: DC-SOMRL, its SOMRL map, the baselines, and the one trial runner.

Modules, from the bottom up:

- ``util``: small helpers every package shares (no heavy imports);
- ``params``: every model's parameters (names, types, domains, defaults) and the configs built from them;
- ``devices``: device names, parsed in one place;
- ``data``: the data sets as tensors (digits, MNIST, Fashion-MNIST, the user's files);
- ``metrics``: NMI, Purity, AMI, ARI, and when a run is degenerate;
- ``terms``: the terms the SOMRL steps are built from (the exact activation, ordered sums, eq. 3 and 6);
- ``masked``: the SOMRL steps over all slots in fixed shapes (a GPU's path);
- ``somrl``: the SOMRL map, ``SOMRL(SOMRLConfig(...))``, and its steps in order;
- ``autoencoder``: the DEC autoencoder every model shares;
- ``run``: the one trial runner (checks, run directory, the training loop, failure, metrics.json);
- ``trainer``: DC-SOMRL and SOMRL alone (their step, their files, ``load_run``);
- ``grid``: what the fixed-grid baselines share; ``desom``: DE-SOM; ``somvae``: SOM-VAE;
- ``standins``: stand-in trials with known answers, for the tests;
- ``models``: the registry of the models a study can train, each bound to its trial function.
"""
