"""The user's side of the machine: the terminal the VM runs in (serial
console input and output), and, as they arrive, the display and monitor."""
