"""Drop-in replacements for well-known network APIs, backed by fastnn.

``fastnn.compat.nielsen``: the ``Network`` class of the textbook
*Neural Networks and Deep Learning* (its ``network.py``), and the names of
its ``network2.py`` as ``Network2`` etc.

``fastnn.compat.network2``: the book's ``network2.py`` (cross-entropy cost,
L2 regularisation, monitoring, JSON save/load), so that
``import fastnn.compat.network2 as network2`` runs the book's scripts.
"""
