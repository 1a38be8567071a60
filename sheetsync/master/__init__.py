"""What goes into the master workbook's cells: the layout of its sheets and the formulas in them.

:mod:`sheetsync.render_master` writes the workbook with XlsxWriter; the modules here decide, without
writing anything, where each column sits (:mod:`~sheetsync.master.layout`), which columns the
register sheets carry after their contract and provenance columns (:mod:`~sheetsync.master.registers`),
and how 进度 computes each number from them (:mod:`~sheetsync.master.progress`). Every formula
comes with the value the domain engine computed for it (:mod:`~sheetsync.master.formulas`).
The one module that writes is :mod:`~sheetsync.master.rows`: XlsxWriter's sheet XML for each
finished row, produced faster than XlsxWriter's own per-cell code and identical to it.
"""
