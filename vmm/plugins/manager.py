"""Finding installed plugins (entry points) and picking the configured ones."""

from __future__ import annotations

from ..errors import ConfigError, KernelError
from . import SUBSYSTEMS, Plugin, discovery_cache

ENTRY_POINT_GROUP = "pyos.plugins"


def plugin_manager():
    """A pluggy PluginManager with every installed pyos.plugins entry point loaded."""
    import pluggy
    from ..paths import use_checkout_plugins
    from . import hookspecs
    use_checkout_plugins()
    pm = pluggy.PluginManager("pyos")
    pm.add_hookspecs(hookspecs)
    try:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    except Exception as e:  # an installed plugin package that fails to import
        raise KernelError(f"loading the {ENTRY_POINT_GROUP} entry points failed: {type(e).__name__}: {e}",
                          "fix or uninstall the plugin package named in the error") from None
    return pm


def discover(cached: bool = False) -> dict[str, dict[str, Plugin]]:
    """Every installed plugin, by subsystem and name.

    cached: take the answer remembered by an earlier launch while nothing it
    depended on changed (discovery_cache.py), and remember a fresh one.
    """
    if cached:
        found = discovery_cache.load()
        if found is not None:
            return found
    pm = plugin_manager()
    found: dict[str, dict[str, Plugin]] = {key: {} for key in SUBSYSTEMS}
    for module in pm.get_plugins():
        provider = pm.get_name(module) or getattr(module, "__name__", "?")
        declared = module.pyos_plugins() if hasattr(module, "pyos_plugins") else []
        for plugin in declared or []:
            if not isinstance(plugin, Plugin):
                raise KernelError(f"plugin package '{provider}' returned {plugin!r}, not a vmm.plugins.Plugin")
            if plugin.subsystem not in SUBSYSTEMS:
                raise KernelError(f"plugin '{plugin.name}' from '{provider}' is for unknown subsystem "
                                  f"'{plugin.subsystem}'", "subsystems: " + ", ".join(SUBSYSTEMS))
            existing = found[plugin.subsystem].get(plugin.name)
            if existing:
                raise KernelError(f"two plugins named '{plugin.name}' for {plugin.subsystem}: "
                                  f"from '{existing.provider}' and from '{provider}'",
                                  "uninstall one of them")
            found[plugin.subsystem][plugin.name] = Plugin(**{**plugin.__dict__, "provider": provider})
    if cached:
        discovery_cache.store(found, [f for f in (getattr(m, "__file__", None) for m in pm.get_plugins()) if f])
    return found


def select(choices: dict, installed=None) -> list[Plugin]:
    """The plugin for each subsystem: choices[key], or the subsystem's default.

    A `multiple` subsystem (filesystems) takes a list of names; its default is
    every name in Subsystem.default that is installed.
    """
    installed = discover(cached=True) if installed is None else installed
    selected = []
    for key, subsystem in SUBSYSTEMS.items():
        if subsystem.multiple:
            names = choices.get(key)
            if names is None:
                names = [n for n in subsystem.default if n in installed[key]]
        elif key == "scheduler" and choices.get("schedulers"):
            names = list(choices["schedulers"])   # several linked in, the first active (sched_swap)
        else:
            names = [choices.get(key) or subsystem.default]
        for name in names:
            selected.append(_checked(key, subsystem, name, installed))
    return selected


def _checked(key, subsystem, name, installed) -> Plugin:
    plugin = installed[key].get(name)
    if plugin is None:
        names = ", ".join(sorted(installed[key])) or "none"
        raise ConfigError(f"[kernel] {key} = {name!r}: no such {key} plugin is installed",
                          f"installed {key} plugins: {names} (see pyos-vmm plugins)")
    if plugin.interface_version != subsystem.interface_version:
        raise KernelError(f"{key} plugin '{name}' implements interface version {plugin.interface_version}, "
                          f"but this kernel's {subsystem.header} is version {subsystem.interface_version}",
                          f"update the plugin '{name}' (from {plugin.provider}) to the current interface")
    missing = [str(s) for s in plugin.sources if not s.is_file()]
    if missing:
        raise KernelError(f"{key} plugin '{name}' names sources that do not exist: {', '.join(missing)}",
                          "reinstall the plugin package (are its C files included as package data?)")
    return plugin
