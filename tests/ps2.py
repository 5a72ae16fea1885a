"""Talking to a PS/2 device model the way the 8042 does: bytes in, replies out."""


def out(dev) -> list[int]:
    """Every byte the device has queued for the controller."""
    got = []
    while (b := dev.pull()) is not None:
        got.append(b)
    return got


def send(dev, *data) -> list[int]:
    """Write each byte to the device, then collect its replies."""
    for d in data:
        dev.write(d)
    return out(dev)
