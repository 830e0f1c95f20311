"""carvoice: an offline voice agent for cars.

A command goes audio -> wake -> recognise -> intent -> safety -> act -> speak; the imports point
down the layers README.md ("Architecture") names, and tests/test_layers.py keeps them so.
"""

__version__ = "0.1.0"
