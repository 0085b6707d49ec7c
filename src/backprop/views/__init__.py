"""Views: results turned into text and pictures, and nothing computed.

Writers for tables, JSON Lines and CSV, the drawings of the computational graph,
and the matplotlib plots (:mod:`backprop.views.plots`). A view reads the result
objects of the layers below; it never runs a pass over a graph itself.
"""
