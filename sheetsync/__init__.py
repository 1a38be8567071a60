"""sheetsync: run a city's cleaner-production programme on spreadsheets.

The pipeline is read → validate → merge → render: :mod:`sheetsync.read`,
:mod:`sheetsync.validate`, :mod:`sheetsync.merge`, :mod:`sheetsync.render_master`.
"""

__version__ = "0.1.0"
