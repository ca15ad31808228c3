"""Turning results into what people read: tables, files, plots, HTML."""
