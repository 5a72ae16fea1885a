"""The screen's commands on the control socket (vmm/control.py):

    screendump  {"filename": "FILE.png"}  → {"filename": "/abs/FILE.png", "width": 720, "height": 400}
    query-screen                          → query_screen(): {"columns", "rows", "text": [25 strings],
                                            "chars", "attributes": [[int]], "cursor": {...},
                                            "start_address", "blanked"}
"""

from __future__ import annotations

from pathlib import Path

from .. import control


@control.command("screendump", filename=str)
def _screendump(machine, filename):
    """Save the VGA text screen as a PNG file (9x16 cells in the VGA font)."""
    from .font import FontError
    from .screenshot import render
    path = Path(filename).expanduser()
    if path.suffix.lower() != ".png":
        raise control.CommandError(f"screendump writes PNG files: name it FILE.png, not {filename!r}")
    try:
        image = render(machine.vga.screen())
        image.save(path, format="PNG")
    except ImportError:
        raise control.CommandError("screendump needs Pillow (pip install pillow)") from None
    except FontError as e:
        raise control.CommandError(str(e)) from None
    except OSError as e:
        raise control.CommandError(f"cannot write {path}: {e.strerror or e}") from None
    return {"filename": str(path.resolve()), "width": image.width, "height": image.height}


@control.command("query-screen")
def _query_screen(machine):
    """The 80x25 text screen: text, character codes, attributes, cursor."""
    from .screen import query_screen
    return query_screen(machine)
