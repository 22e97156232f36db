"""pausegate: a media proxy that withholds paused audio and DTMF from call recordings."""

__version__ = "0.1.0"
__all__ = ["__version__"]
