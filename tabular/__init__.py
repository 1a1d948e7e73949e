"""The one reader of import files (CSV and Excel) every importer uses, and the one error they raise.

    CONTRACT = Contract("资源导入", (
        Column("id", "编号", Text(max_length=40), required=True, aliases=("资源编号",)),
        Column("lon", "经度", Float(-180, 180), required=True, aliases=("lng",)),
        ...))
    table = read_table(path_or_bytes_or_upload, CONTRACT)   # TabularError if the file is unreadable
    errors = [...domain checks over table.rows...]
    table.raise_if_any(errors)                                # every bad row at once, nothing written

See tabular/reader.py for what is read and how, tabular/limits.py for the caps.
"""
from tabular.columns import YES_NO, BadValue, Choice, Column, Contract, DateTime, Float, Int, Text, header_key
from tabular.errors import CellError, TabularError
from tabular.limits import Limits
from tabular.progress import stages
from tabular.reader import Row, Table, read_table

__all__ = ["YES_NO", "BadValue", "CellError", "Choice", "Column", "Contract", "DateTime", "Float", "Int", "Limits",
           "Row", "Table", "TabularError", "Text", "header_key", "read_table", "stages"]
