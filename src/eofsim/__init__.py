"""eofsim: an executable, crash-exploring model of ext4's buffered-write path around EOF."""

__version__ = "0.1.0"
