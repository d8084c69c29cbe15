import os
import sys

# naive.py (the reference implementation) sits beside the tests.
sys.path.insert(0, os.path.dirname(__file__))
