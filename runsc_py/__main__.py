from runsc_py.cli import entry

entry()
