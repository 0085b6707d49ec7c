"""Networks built from forward/backward layers: regression and classification.

``layers`` holds the modules (each with ``forward`` caching what its
``backward`` needs, and the fused softmax + cross-entropy output), ``model``
the networks (any number of hidden layers) and their file format, ``optim``
the update rules, ``config``/``data`` the settings and the data (a real CSV
reader, which picks the columns of numbers), ``encoding`` the one-hot columns
a model carries, ``train`` the loop and the gradient check, ``metrics`` plain
metric functions, ``predict``/``evaluate`` what the commands of those names
print, and ``estimators`` ``NetRegressor``/``NetClassifier`` (scikit-learn
estimators where it is installed).
Nothing here uses the expression engine except synthetic data.
"""
