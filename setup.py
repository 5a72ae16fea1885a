"""Package layout for setuptools (the metadata is in pyproject.toml).

The source tree keeps its folders where the design puts them (plugins/,
guest_kernel/, configs/), but installs them under names no other
distribution uses: `pyos_plugins`, `pyos_guest_kernel` (the kernel's C and
assembly, shipped as package data and built on the user's machine) and
`pyos_configs`. Packages are discovered, so a new subpackage needs no edit.
"""

from setuptools import find_packages, setup

packages = find_packages(include=["vmm", "vmm.*"])
packages += ["pyos_plugins"] + [f"pyos_plugins.{name}" for name in find_packages("plugins")]
packages += ["pyos_guest_kernel", "pyos_configs"]

setup(
    packages=packages,
    package_dir={"pyos_plugins": "plugins", "pyos_guest_kernel": "guest_kernel", "pyos_configs": "configs"},
    package_data={
        "vmm": ["**/*.c", "**/*.h"],
        "pyos_plugins": ["**/*.c", "**/*.h", "**/*.S"],
        "pyos_guest_kernel": ["**/*.c", "**/*.h", "**/*.S", "**/*.ld"],
        "pyos_configs": ["*.toml", "rootfs/*", "rootfs/**/*"],  # rootfs/: the default root disk's files
    },
)
