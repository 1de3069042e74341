"""``dcsomrl-study inspect RUN_DIR``: the paper's qualitative figures for one trained model.

For a trial's run directory (from ``train``, ``lhs`` or ``final``) it writes,
into ``RUN_DIR/inspect/`` unless ``--out`` says otherwise, PNGs of

* the histogram of all relevances (paper Fig. 2),
* the effect of disturbing dimensions of low or high relevance (Fig. 3), measured,
* a sweep of one highly relevant latent dimension (Fig. 4),
* a joint t-SNE of encoded test samples and prototypes with the map's topology (Fig. 5),
* prototypes beside their nearest test samples (Fig. 10) and the clusters-vs-classes matrix (A.3),
* the validation curve of Purity and NMI (Fig. 7),

and ``inspect.md``, which shows them with one line of reading each.

Modules:

==============  =====================================================================
``data``        pure, seeded functions computing each figure's data
``plots``       thin matplotlib Agg renderers
``inspection``  the page's data: ``load_inspection`` (checks, loads) and ``inspection`` (pure) -> ``Inspection``
``page``        ``render_page``: an Inspection -> inspect.md's Markdown (pure)
``report``      ``write_inspection``: load the run, compute, draw, write (the writer)
``command``     the ``inspect`` subcommand: its parser beside its handler
==============  =====================================================================

Importing the package imports none of them (``dcsomrl-study --help`` stays fast).
"""
