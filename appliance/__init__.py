"""Firmware of an offline diabetic-retinopathy screening appliance."""

__version__ = "0.1.0"
