"""vcam: a real-time neural style-transfer virtual webcam."""

__version__ = "0.1.0"
