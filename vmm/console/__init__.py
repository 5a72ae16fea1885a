"""The user's side of the machine: the terminal the VM runs in (serial
console input and output), the screen (in the terminal, as text, as PNG),
the keyboard escape and the monitor prompt."""
