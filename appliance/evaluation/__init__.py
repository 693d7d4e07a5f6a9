"""Measuring the appliance on labelled folders: the DR classifier and the quality gate."""
