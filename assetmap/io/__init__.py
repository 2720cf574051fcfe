"""Importers and exporters: one module per format, each with one entry function.

Every importer reads and checks a whole file before it writes, then writes it in
one transaction: a rejected file, or a killed process, leaves the database as it
was, and importing the same file again changes nothing.
"""
