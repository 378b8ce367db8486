"""Energy reports (`metergate report`): a report model assembled from the analytics' own results
(reports.model), rendered to HTML (jinja2), PDF (WeasyPrint) and a workbook (openpyxl), one module
per format. The renderers' libraries are the optional extra `report` and load only when rendering."""
