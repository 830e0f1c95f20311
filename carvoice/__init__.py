"""carvoice: an offline voice agent for cars.

The pipeline reads left to right in the package layout:
audio -> wake -> recognise -> intent -> safety -> act -> speak.
"""

__version__ = "0.1.0"
