"""Methods above the façade: numeric differentiation, and descent on an expression.

``numeric`` (finite differences of the forward pass alone, forward and central,
each step scaled to its variable; Richardson extrapolation; the complex step),
``descend`` (gradient descent, W = W - tau * grad E(W), with optional momentum,
or Newton's method, step by step, with the reason a run stopped) and ``newton``
(Newton's direction from the Hessian with a halving line search, a gradient step
where the Hessian is not positive definite, and what kind of point a stationary
point is, from the Hessian's eigenvalues).

They call the core through its façade (:class:`backprop.core.function.Function`)
and the core's one-point passes; nothing in :mod:`backprop.core` imports them.
``nn``'s gradient check, the studies, the views and the command line use them.
"""
