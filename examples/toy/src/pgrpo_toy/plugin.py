"""The toy world as a pgrpo plugin (entry point `pgrpo.plugins: toy`): importing this module
registers the toy chat backend and the "toy-oracle" judge (backend.py), the "toy" prompt
style (world.py) and `pgrpo demo` (commands.py). The core never imports pgrpo_toy.
"""

from pgrpo_toy import backend, commands, world  # noqa: F401 (imported to register)
