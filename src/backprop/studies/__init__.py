"""Studies: measurements that put the methods side by side.

``compare`` (every way to a gradient at one point, with errors and fair
costs), ``sweep`` (the finite-difference error against the step), ``scaling``
(the lecture's cost argument within a time budget), ``timing`` (the one timing
harness they and the benchmarks share), ``fixtures`` (the graph families the
studies, the tests and the benchmarks share) and ``tables`` (what a result
hands the output layer). They use the core's façade and the methods
(``symbolic``, ``methods.numeric``, ``nn``); each returns a result object that
knows its tables and its JSON, and leaves the writing to :mod:`backprop.views`.
"""
