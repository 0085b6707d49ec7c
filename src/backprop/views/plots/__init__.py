"""matplotlib pictures: the descent path, the finite-difference sweep, training curves.

matplotlib is an optional extra; ``common`` checks for it and saves atomically.
"""
