"""Store and forward: buffer on the SD card, signed batches, MQTT uplink."""
