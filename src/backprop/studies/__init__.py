"""Studies: measurements that put the methods side by side.

``compare`` (every way to a gradient at one point, with errors and costs), the
finite-difference step ``sweep`` and the ``scaling`` study of the lecture's cost
argument. They use the core's façade and the methods (symbolic, numeric, nn);
they compute results and leave the writing to :mod:`backprop.views`.
"""
