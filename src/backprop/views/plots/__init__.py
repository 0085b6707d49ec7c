"""matplotlib pictures: ``descend`` (the descent path), ``sweep`` (the
finite-difference sweep), ``training`` (loss curves and the fitted function).

matplotlib is an optional extra; ``common`` checks for it and saves atomically.
"""
