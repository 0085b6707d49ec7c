"""A one-hidden-layer regressor built from forward/backward layers.

``layers`` holds the modules (each with ``forward`` caching what its
``backward`` needs), ``model`` the regressor and its file format, ``optim``
the update rules, ``config``/``data`` the settings and the data, ``train``
the loop. Nothing here uses the expression engine except synthetic data.
"""
