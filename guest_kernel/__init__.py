"""The guest kernel's sources (C and assembly), installed as the Python
package `pyos_guest_kernel` so that an installed pyos can build its kernel:
vmm/paths.py finds this folder through importlib.resources."""
