"""Drop-in replacements for well-known network APIs, backed by fastnn.

``fastnn.compat.nielsen``: the ``Network`` class of the textbook
*Neural Networks and Deep Learning* (its ``network.py``).
"""
