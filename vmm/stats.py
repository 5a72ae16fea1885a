"""The --stats text, and the same figures as a dict (query-stats): what the
VM did, from the VMM's and the guest's counters."""

from __future__ import annotations

from .run_loop import EXIT_NAMES


def exit_counts_by_name(counts) -> dict[str, int]:
    return {EXIT_NAMES.get(r, str(r)): n for r, n in counts.items()}


def stats_text(machine) -> str:
    loop = machine.loop
    lines = ["exits: " + ", ".join(f"{k} {v}" for k, v in sorted(machine.exit_counts.items()))]
    raised = {n: line.raised for n, line in machine.irq_lines.items() if line.raised}
    lines.append("IRQ lines raised: " + (", ".join(f"IRQ{n} {c}" for n, c in raised.items()) or "none"))
    lines.append("vectors injected: " + (", ".join(f"{v:#04x} {c}" for v, c in sorted(loop.injected.items()))
                                         or "none"))
    pic = machine.pic
    coalesced = {f"IRQ{chip_base + i}": c for chip_base, chip in ((0, pic.master), (8, pic.slave))
                 for i, c in enumerate(chip.counters["coalesced"]) if c}
    spurious = pic.master.counters["spurious"] + pic.slave.counters["spurious"]
    lines.append(f"PIC: edges merged into a request already pending: {coalesced or 'none'}; "
                 f"spurious acknowledges: {spurious}")
    pit = machine.pit.stats
    lines.append(f"PIT ({machine.pit.policy}): IRQ0 edges due {pit['edges']}, delivered {pit['delivered']} "
                 f"(caught up late: {pit['caught_up']}), lost {pit['lost_ticks']}")
    kbc = machine.i8042.counters
    lines.append(f"8042: {kbc['bytes_to_guest']} bytes read by the guest ({kbc['kbd_bytes']} keyboard, "
                 f"{kbc['aux_bytes']} mouse), {kbc['commands']} controller commands, {kbc['kbd_commands']} "
                 f"keyboard and {kbc['aux_commands']} mouse command bytes, {kbc['keys']} key events, "
                 f"{kbc['mouse_packets']} mouse packets, {kbc['resets']} CPU resets")
    guest = machine.guest_counters.snapshot() if machine.guest_counters else {}
    if guest:
        names = guest["plugins"]
        lines.append(f"guest: {guest['ticks']} ticks; IRQs handled "
                     + ", ".join(f"IRQ{n} {c}" for n, c in enumerate(guest["irqs"]) if c))
        lines.append(f"guest processes: {guest['context_switches']} context switches, "
                     f"{guest['processes_created']} tasks created, {guest['processes_killed']} killed, "
                     f"{guest['user_page_faults']} user page faults; scheduler {names['sched']}, "
                     f"system calls via {names['syscall_entry']}")
        calls = ", ".join(f"#{n} {c}" for n, c in enumerate(guest["syscalls"]) if c)
        lines.append(f"guest system calls by number: {calls or 'none'}")
        for section, plugin in (("frames", "frame_alloc"), ("heap", "heap"), ("paging", "paging")):
            values = ", ".join(f"{k} {v}" for k, v in guest[section].items())
            lines.append(f"guest {section} ({names[plugin]}): {values}")
    return "\n".join(lines)


def stats_record(machine) -> dict:
    """The VMM's counters as one JSON-able dict (the control socket's query-stats)."""
    record = {"exits": machine.exit_counts,
              "irqs_raised": {str(n): line.raised for n, line in machine.irq_lines.items() if line.raised},
              "vectors_injected": {f"{v:#04x}": c for v, c in sorted(machine.loop.injected.items())},
              "pit": dict(machine.pit.stats), "uart": dict(machine.uart.counters),
              "i8042": machine.i8042.counters, "reboots": machine.reboots}
    if machine.guest_counters:
        record["guest"] = machine.guest_counters.snapshot()  # read from guest RAM, no VM exit
    control = machine.control
    if control is not None:
        record["control"] = {"requests": control.requests, "errors": control.errors,
                             "clients_dropped": control.clients_dropped}
    return record
