"""sharpeyes: streaming video analytics from RTSP cameras to incident alerts."""

__version__ = "0.1.0"
