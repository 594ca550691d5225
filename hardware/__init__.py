"""Status LEDs and appliance health (gpiozero lives here only)."""
