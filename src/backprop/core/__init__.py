"""The core: the expression as a computational graph, and the passes over it.

Bottom up: ``ops`` (the table of primitives, each declared once with its local
derivatives), ``graph`` (the DAG of modules), ``normalize`` (pasted notation
rewritten into the expression language), ``parser`` and ``printer`` (text to
graph and back; the parser is the only module that knows Lark), ``constant``
(constant expressions as numbers), ``passes`` (the forward, backward and tangent
passes, each one loop, told which arithmetic to use), and the arithmetics they run:
``engine`` (numpy: arrays over blocks of points, IEEE scalars), ``scalar`` (Python
floats and the math module, at one point), ``complex_step`` (complex numbers, for the
complex step); then ``gradient_graph``
(second order: the backward pass built as a graph), ``jacobian`` (several
outputs, by reverse or forward mode), ``results`` (what the façade returns),
``trace`` (the recorded forward and backward passes), and ``function`` (the
:class:`Function` and :class:`VectorFunction` façade that every other layer
uses; the passes are private to the core). Beside them, the points the façade
reads: ``points`` (POINT strings and streams of points), ``arrival`` (lines of a
pipe as they arrive) and ``parquet`` (points from Parquet files).

Nothing here imports from the layers above it (methods, studies, views, cli).
"""
