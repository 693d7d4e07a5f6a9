"""The serial-controlled camera kind: protocol.py (the line protocol of docs/serial-protocol.md, pure) and
camera.py (SerialCamera, speaking it over appliance.devices.serial_link)."""
