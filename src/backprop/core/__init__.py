"""The core: the expression as a computational graph, and the passes over it.

Bottom up: ``ops`` (the table of primitives, each declared once with its local
derivatives), ``graph`` (the DAG of modules), ``normalize`` (pasted notation
rewritten into the expression language), ``parser`` and ``printer`` (text to
graph and back; the parser is the only module that knows Lark), ``constant``
(constant expressions as numbers), ``engine`` (the forward, backward and tangent
passes over arrays), ``scalar`` (the same passes at one point of Python floats),
``complex_step`` (the forward pass on complex numbers), ``gradient_graph``
(second order: the backward pass built as a graph), ``jacobian`` (several
outputs, by reverse or forward mode), ``results`` (what the façade returns),
``trace`` (the recorded forward and backward passes), and ``function`` (the
:class:`Function` and :class:`VectorFunction` façade that every other layer
uses; the passes are private to the core). Beside them, the points the façade
reads: ``points`` (POINT strings and streams of points), ``arrival`` (lines of a
pipe as they arrive) and ``parquet`` (points from Parquet files).

Nothing here imports from the layers above it (methods, studies, views, cli).
"""
