"""Views: results turned into text and pictures, and nothing computed.

``writers`` (the one output layer: tables, JSON Lines and CSV for every command),
``layout`` (tables that fit the terminal whole), ``parquet`` (results as a Parquet
file), ``sparklines`` (one-line loss curves), ``drawing`` (the computational graph
as DOT and Mermaid text), ``lesson`` (the self-contained HTML page that steps
through both passes), ``notebook`` (hands the drawing to the core's ``Function``
so that Jupyter shows it), and the matplotlib plots (:mod:`backprop.views.plots`).
A view reads the result objects of the layers below; it never runs a pass over a
graph itself.
"""
