"""Registers the stacklstm-fin Forecasts page (see stacklstm_fin.airflow.plugin)."""

from stacklstm_fin.airflow.plugin import StackLSTMPlugin

__all__ = ["StackLSTMPlugin"]
