import os
import sys

# nielsen_reference.py and other helpers live beside the tests.
sys.path.insert(0, os.path.dirname(__file__))
