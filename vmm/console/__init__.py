"""The user's side of the machine: the screen (in the terminal, as text, as PNG),
the keyboard escape and the monitor prompt."""
