"""Passive capture: packets in, Observations, DeviceRecords and Findings out."""
