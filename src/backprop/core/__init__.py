"""The core: the expression as a computational graph, and the passes over it.

Bottom up: ``ops`` (the table of primitives, each declared once with its local
derivatives), ``graph`` (the DAG of modules), ``parser`` and ``printer`` (text
to graph and back; the parser is the only module that knows Lark), ``engine``
(the forward, backward and tangent passes: private to the core), ``function``
(the :class:`Function` façade that every other layer uses), and the façade's
helpers ``points`` (POINT strings and streams of points) and ``trace`` (the
recorded forward and backward passes).

Nothing here imports from the layers above it (methods, studies, views, cli).
"""
